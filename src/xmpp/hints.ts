/**
 * XEP-0334 Message Processing Hints (`<no-copy/>`, `<no-store/>`,
 * `<no-permanent-store/>`, `<store/>`). It lives in the core, beside NS_DELAY
 * in delay.ts, because carbons, offline storage, archiving, stream
 * management's requeue and CSI each read hints, and none of them should
 * import another module for a string.
 *
 * Only the namespace: each reader answers its own question in the one pass it
 * already makes over a message's children (an archive obeys
 * `<no-permanent-store/>`, offline storage does not; `<store/>` means
 * something else to each), so a shared "has hint" helper would add a pass
 * and hide that difference.
 */
export const NS_HINTS = 'urn:xmpp:hints';
