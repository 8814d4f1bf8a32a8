import { tryParseJid } from '../../util/jid.js';
import { x, type XmlElement } from '../../util/xml.js';
import { StanzaError, StreamError, errorReply } from '../errors.js';
import type { Server } from '../server.js';
import type { ClientSession } from '../session.js';
import type { C2sSession } from './client-session.js';
import { NS_SESSION } from './stream-features.js';
import { NS_CLIENT } from '../rfc6120-namespaces.js';

const MESSAGE_TYPES = new Set(['chat', 'error', 'groupchat', 'headline', 'normal']);
const PRESENCE_TYPES = new Set(['error', 'probe', 'subscribe', 'subscribed', 'unavailable', 'unsubscribe', 'unsubscribed']);
const IQ_TYPES = new Set(['get', 'set', 'result', 'error']);

function reject(session: ClientSession, el: XmlElement, text: string): void {
  if (el.attrs.type === 'error') return;
  session.send(errorReply(el, new StanzaError('bad-request', text)));
}

/**
 * A top-level element from a bound client: stream-level extensions go to the
 * module that registered their namespace; stanzas are checked, stamped with
 * the session's full JID and routed. Throws StreamError for what ends the stream.
 */
export function processClientElement(server: Server, session: C2sSession, el: XmlElement): Promise<void> | void {
  const ns = el.attrs.xmlns;
  if (ns !== NS_CLIENT) {
    const handler = ns !== undefined ? server.registrations.streamElements.get(ns) : undefined;
    if (handler === undefined) throw new StreamError('unsupported-stanza-type', `<${el.name} xmlns='${ns}'> is not understood here`);
    return handler(session, el);
  }
  const name = el.name;
  const type = el.attrs.type;
  // Every stanza counts for XEP-0198, rejected ones too (errors and replies go out through send() and are counted there).
  if (name === 'message' || name === 'presence' || name === 'iq') session.stanzasIn++;
  if (name === 'message') {
    server.counters.stanzasIn.message.inc();
    if (type !== undefined && !MESSAGE_TYPES.has(type)) return reject(session, el, 'invalid message type');
  } else if (name === 'presence') {
    server.counters.stanzasIn.presence.inc();
    if (type !== undefined && !PRESENCE_TYPES.has(type)) return reject(session, el, 'invalid presence type');
  } else if (name === 'iq') {
    server.counters.stanzasIn.iq.inc();
    if (type === undefined || !IQ_TYPES.has(type) || el.attrs.id === undefined) return reject(session, el, 'iq needs an id and a valid type');
    if (type === 'set' && el.attrs.to === undefined && el.getChild('session', NS_SESSION)) {
      // RFC 3921 session establishment: obsolete, answered for old clients.
      session.send(x('iq', { type: 'result', id: el.attrs.id }));
      return;
    }
  } else {
    throw new StreamError('unsupported-stanza-type', `<${name}> is not a stanza`);
  }
  // RFC 6120 §8.1.2.1: the server stamps the full JID; a client may not claim another.
  const from = el.attrs.from;
  if (from !== undefined && from !== session.jid.full) {
    const parsed = tryParseJid(from);
    if (parsed === null || (parsed.full !== session.jid.full && parsed.full !== session.jid.bare)) throw new StreamError('invalid-from', 'from does not match the authenticated JID');
  }
  el.attrs.from = session.jid.full;
  const hooks = server.hooks;
  if (hooks.has('stanza/in')) {
    const claimed = hooks.fire('stanza/in', { session, stanza: el });
    if (claimed === true) return;
    if (claimed !== false) return claimed.then((c) => (c ? undefined : server.router.route(el, session.jid, session)));
  }
  return server.router.route(el, session.jid, session);
}
