import type { XmlElement } from '../../../util/xml.js';
import type { Logger } from '../../../util/log.js';
import { NS_DELAY, delayElement } from '../../delay.js';
import { StanzaError, errorReply } from '../../errors.js';
import { NS_HINTS } from '../../hints.js';
import type { ServerApi } from '../../module.js';
import type { ClientSession } from '../../session.js';
import { archivedForClient, type Reached } from './reached.js';

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
  return stanza.clone().append(delayElement(at, host));
}

/**
 * §4: stanzas the client never acknowledged are handled as if sent to an
 * unavailable resource (fateOf), except messages the user has anyway:
 * another session of the account here holds the same message or its carbon
 * (`reached`), or it is in the archive this session caught up from. Storing
 * those offline shows them again on whichever device logs in next.
 *
 * Prosody's mod_smacks skips archived messages of a session that queried
 * its archive, as here, and stores nothing offline while any other session
 * exists (the sender gets an error instead); ejabberd skips archived ones
 * only under a server-wide `assume_mam_usage`, and re-routes the rest only
 * when no other resource is online. Here another session must have been
 * handed this very message, and anything else is stored as before: nothing
 * is lost that no other device of the user has.
 */
export async function requeue(server: ServerApi, log: Logger, session: ClientSession, queue: readonly XmlElement[], queuedAt: readonly number[], reached: Reached): Promise<void> {
  const to = session.jid.toBare();
  for (let i = 0; i < queue.length; i++) {
    const stanza = queue[i]!;
    const fate = fateOf(stanza);
    if (fate === 'drop') continue;
    if (fate !== 'bounce' && (reached.heldElsewhere(session, stanza) || archivedForClient(session, stanza))) {
      log.debug(`${session.jid.full}: unacknowledged message ${stanza.attrs.id ?? ''} not stored offline: the user has it elsewhere`);
      continue;
    }
    // No offline storage: the sender learns it was not delivered ("returning an error to the sender").
    const stored = fate !== 'bounce' && (await server.emit('message/offline', { stanza: delayed(stanza, queuedAt[i]!, session.host), to, requeued: true, copyOf: stanza }));
    if (!stored && fate !== 'offer' && stanza.attrs.from !== undefined) {
      await server.route(errorReply(stanza, new StanzaError('service-unavailable'), session.host), null).catch((e) => log.debug('bounce failed', e));
    }
  }
}
