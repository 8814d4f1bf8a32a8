import type { XmlElement } from '../../../util/xml.js';
import { unwrapCarbon } from '../../carbon-copies.js';
import { CLIENT_ACKS, type ClientSession } from '../../session.js';
import { pushWorthy } from './important.js';

/**
 * The message a written stanza brings to the user: the one inside a received carbon sori made (from the
 * user's bare JID, which no other sender can use), else the stanza itself.
 */
function ownCopy(session: ClientSession, written: XmlElement): XmlElement {
  if (written.attrs.from !== session.jid.bare) return written;
  const carbon = unwrapCarbon(written);
  return carbon !== null && carbon.kind === 'received' ? carbon.message : written;
}

/**
 * A message that would wake the user was written to a session that looks connected: calls `late` with it if
 * the client has not acknowledged it (XEP-0198) within `waitMs`. The server learns that a phone's network
 * went away without the connection closing, or that the OS froze the app, only when TCP gives up, many
 * minutes later; meanwhile the message waits unread and nobody is pushed. Prosody pushes when an ack is
 * late (smacks-ack-delayed); ejabberd closes the connection (ack_timeout), hibernating the session.
 * Sessions without stream management, and hibernated ones (pushed when the message was routed), are left alone;
 * `watching` hears of each message that is watched.
 */
export function watchUnacknowledged(
  session: ClientSession,
  written: XmlElement,
  waitMs: number,
  late: (session: ClientSession, message: XmlElement) => void,
  watching: (message: XmlElement, domain: string) => void,
): void {
  if (!session.connected) return;
  const acks = session.get(CLIENT_ACKS);
  if (acks === undefined) return;
  const message = ownCopy(session, written);
  if (pushWorthy(message) === null) return;
  watching(message, session.jid.domain);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), waitMs);
    timer.unref();
  });
  void Promise.race([acks.untilHandled().then(() => false), timedOut]).then((unacknowledged) => {
    clearTimeout(timer);
    // Ended meanwhile: stream management's requeue has passed its messages to offline storage, which pushes.
    if (unacknowledged && session.open) late(session, message);
  });
}
