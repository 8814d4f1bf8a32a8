/**
 * End-to-end encrypted message payloads, as [namespace, element name]: a
 * message carrying one has its body inside, so it counts as a message with
 * a body wherever the server asks whether a person will read it (archive,
 * push, CSI, carbons, block-strangers). One list, so that a new encryption
 * is taught to all of them at once.
 */
export const ENCRYPTED_PAYLOADS: ReadonlyArray<readonly [namespace: string, element: string]> = [
  ['eu.siacs.conversations.axolotl', 'encrypted'], // OMEMO (the legacy namespace, what clients deploy)
  ['urn:xmpp:omemo:2', 'encrypted'], // OMEMO 2
  ['urn:xmpp:openpgp:0', 'openpgp'], // XEP-0373
  ['jabber:x:encrypted', 'x'], // XEP-0027
];

/** The namespaces of ENCRYPTED_PAYLOADS. */
export const ENCRYPTED_NAMESPACES: readonly string[] = ENCRYPTED_PAYLOADS.map(([ns]) => ns);
