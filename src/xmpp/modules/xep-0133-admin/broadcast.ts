import { setImmediate as nextTurn } from 'node:timers/promises';
import { x, type XmlElement } from '../../../util/xml.js';
import type { ServerApi } from '../../module.js';
import type { ClientSession } from '../../session.js';

/**
 * Sessions handled between two turns of the event loop. Writing a stanza to
 * a session serialises it and writes to a socket: 100k of them at once would
 * hold every other client's stanzas back for a noticeable while.
 */
const CHUNK = 500;

/** What an administrator says to many users: XEP-0133's announcement or message of the day. */
export interface Notice {
  subject?: string;
  body: string;
}

/**
 * A notice as sent to one session: a headline from the server's domain.
 * Headline because it is said to those online now and never kept: RFC 6121
 * §5.2.2 has it not stored for an absent user, and offline storage, the
 * archive (MAM), carbons and push all leave headlines alone, so even a copy
 * that took another path could not land in 22M users' storage. Prosody's
 * mod_announce sends the same; CSI holds it for an inactive client rather
 * than waking the device.
 */
export function noticeStanza(domain: string, to: string, id: string, notice: Notice): XmlElement {
  return x('message', { type: 'headline', from: domain, to, id }, notice.subject === undefined ? null : x('subject', null, notice.subject), x('body', null, notice.body));
}

/**
 * Calls `fn` for every session of `domain` bound on this node (hibernated
 * stream-management sessions too: they get it when they resume), yielding to
 * the event loop every CHUNK sessions. Resolves with how many it saw.
 * Sessions bound during the pass may be seen or not; closed ones are skipped.
 */
export async function eachLocalSession(server: ServerApi, domain: string, fn: (session: ClientSession) => void): Promise<number> {
  let seen = 0;
  let sinceYield = 0;
  // A Map's iterator survives changes between turns: what is deleted meanwhile is not visited.
  for (const session of server.allSessions()) {
    if (session.jid.domain !== domain || !session.open) continue;
    fn(session);
    seen++;
    if (++sinceYield === CHUNK) {
      sinceYield = 0;
      await nextTurn();
    }
  }
  return seen;
}

/**
 * Posts `body(node)` under `topic` to every other node of the cluster (none on
 * a single node); resolves with how many took it. The body names its node, so
 * that a post a dead node never read, which the cluster hands to the survivor
 * that cleans up after it, is recognised there and not acted on twice.
 */
export async function postToOtherNodes(server: ServerApi, topic: string, body: (node: string) => string): Promise<number> {
  if (!server.clustered) return 0;
  const others = (await server.clusterNodes()).filter((n) => n !== server.nodeId);
  const sent = await Promise.all(others.map((n) => server.nodePost(n, topic, body(n))));
  return sent.filter(Boolean).length;
}
