import { x, type XmlElement } from '../../../util/xml.js';
import type { Logger } from '../../../util/log.js';
import { StanzaError, errorReply } from '../../errors.js';
import type { ServerApi } from '../../module.js';
import type { ClientSession } from '../../session.js';

const NS_DELAY = 'urn:xmpp:delay';
const NS_HINTS = 'urn:xmpp:hints';

/**
 * What becomes of a stanza the client never acknowledged (XEP-0198 §4: "in
 * the same way that it would treat a stanza sent to an unavailable
 * resource", RFC 6121 §8.5.3.2): a message worth keeping goes to offline
 * storage; an iq request and a groupchat message are answered with
 * service-unavailable, so the requester stops waiting and a room learns its
 * occupant is gone; anything else is dropped.
 */
function fateOf(stanza: XmlElement): 'store' | 'offer' | 'bounce' | 'drop' {
  const type = stanza.attrs.type;
  if (stanza.name === 'iq') return type === 'get' || type === 'set' ? 'bounce' : 'drop';
  if (stanza.name !== 'message') return 'drop';
  if (type === 'groupchat') return 'bounce';
  if (type !== undefined && type !== 'chat' && type !== 'normal') return 'drop';
  if (stanza.getChild('no-store', NS_HINTS) !== undefined) return 'drop';
  // Without a body (an OMEMO message, a receipt, a marker) offline storage decides; if it will not keep it, nobody is told.
  return stanza.getChild('body') === undefined ? 'offer' : 'store';
}

/** A copy with `<delay/>` (XEP-0203) for the time it was first sent, unless it already carries one. */
function delayed(stanza: XmlElement, at: number, host: string): XmlElement {
  if (stanza.getChild('delay', NS_DELAY) !== undefined) return stanza;
  return stanza.clone().append(x('delay', { xmlns: NS_DELAY, from: host, stamp: new Date(at).toISOString() }));
}

/** §4: stanzas the client never acknowledged are handled as if sent to an unavailable resource (fateOf). */
export async function requeue(server: ServerApi, log: Logger, session: ClientSession, queue: readonly XmlElement[], queuedAt: readonly number[]): Promise<void> {
  const to = session.jid.toBare();
  for (let i = 0; i < queue.length; i++) {
    const stanza = queue[i]!;
    const fate = fateOf(stanza);
    if (fate === 'drop') continue;
    // No offline storage: the sender learns it was not delivered ("returning an error to the sender").
    const stored = fate !== 'bounce' && (await server.emit('message/offline', { stanza: delayed(stanza, queuedAt[i]!, session.host), to, requeued: true }));
    if (!stored && fate !== 'offer' && stanza.attrs.from !== undefined) {
      await server.route(errorReply(stanza, new StanzaError('service-unavailable'), session.host), null).catch((e) => log.debug('bounce failed', e));
    }
  }
}
