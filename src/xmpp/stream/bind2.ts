import { createHash } from 'node:crypto';
import { normaliseResource } from '../../util/jid.js';
import { randomHex } from '../../util/random-token.js';
import { x, type XmlElement } from '../../util/xml.js';
import type { Bind2FeatureHandler } from '../module.js';
import type { ClientSession } from '../session.js';

export const NS_BIND2 = 'urn:xmpp:bind:0';

/**
 * XEP-0386 §3: the server picks the resource, starting with the client's
 * tag. The rest is derived from the XEP-0388 user-agent id when there is
 * one (a UUID, see `userAgentId`), so that the same installation gets the
 * same resource each time (its full JID stays stable for contacts and MUC
 * rooms); random otherwise.
 */
export function bind2Resource(username: string, tag: string | undefined, userAgentId: string | undefined): string {
  let prefix = 'sori';
  if (tag !== undefined) {
    try {
      const t = normaliseResource(tag.trim().slice(0, 32));
      if (t !== '') prefix = t;
    } catch {
      // A tag that cannot be part of a resource is left out.
    }
  }
  const suffix = userAgentId === undefined ? randomHex(4) : createHash('sha256').update(`${username}\u0000${userAgentId}`).digest('hex').slice(0, 8);
  return `${prefix}.${suffix}`;
}

/** XEP-0386: the features asked for with the binding (SM, carbons, CSI), for the session just bound; their answers make `<bound/>`. */
export async function bind2Features(handlers: ReadonlyMap<string, Bind2FeatureHandler>, session: ClientSession, request: XmlElement): Promise<XmlElement> {
  const bound = x('bound', { xmlns: NS_BIND2 });
  for (const child of request.elements()) {
    const handler = child.attrs.xmlns === undefined ? undefined : handlers.get(child.attrs.xmlns);
    if (handler === undefined) continue;
    const answer = await handler(session, child);
    if (answer !== null && answer !== undefined) bound.append(answer);
  }
  return bound;
}
