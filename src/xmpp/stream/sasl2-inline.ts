import type { XmlElement } from '../../util/xml.js';
import type { PreBindStream } from '../module.js';
import type { Server } from '../server.js';
import type { ClientSession } from '../session.js';
import { bind2Features, bind2Resource, NS_BIND2 } from './bind2.js';
import { userAgentId, type SaslNegotiation } from './sasl-negotiation.js';
import { C2sSession } from './client-session.js';

/** The connection a SASL2 success completes: a pre-bind stream whose session is set once something binds or resumes. */
export interface Sasl2Connection extends PreBindStream {
  readonly session: ClientSession | null;
}

/**
 * XEP-0388 §2.6.3: what goes inside `<success/>`. Inline requests are handled
 * in order: SM resumption (a module's pre-bind handler) first, else XEP-0386
 * binding with the features asked for with it, then a FAST token (XEP-0484).
 * Null when a pre-bind handler ended the stream instead (a `<resume/>`
 * acknowledging more than was sent): nothing is bound and no `<success/>` follows.
 */
export async function inlineAnswers(server: Server, connection: Sasl2Connection, sasl: SaslNegotiation, username: string, request: XmlElement): Promise<XmlElement[] | null> {
  const answers: XmlElement[] = [];
  let closed = false;
  const inline = inlineStream(connection, answers, () => {
    closed = true;
  });
  for (const child of request.elements()) {
    const handler = child.attrs.xmlns === undefined ? undefined : server.registrations.preBindElements.get(child.attrs.xmlns);
    if (handler !== undefined && connection.session === null) await handler(child, inline);
    if (closed) return null;
  }
  const bind = request.getChild('bind', NS_BIND2);
  if (connection.session === null && bind !== undefined) {
    const session = connection.bindHandedOver(bind2Resource(username, bind.getChildText('tag'), userAgentId(request)));
    // Released by the connection once <success/> is written (C2sSession.holdStanzas says why).
    if (session instanceof C2sSession) session.holdStanzas();
    // XEP-0386: the session starts with what was asked for with it, before 'session/bound' handlers
    // wait on anything: a message to the account meanwhile is already copied to it (carbons).
    answers.push(await bind2Features(server.registrations.bind2Features, session, bind));
    await server.hooks.fireAsync('session/bound', { session });
  }
  const token = await sasl.fastToken(request, username);
  if (token !== null) answers.push(token);
  return answers;
}

/**
 * The stream as a pre-bind handler sees it inside SASL2: what it sends back
 * is an answer for `<success/>`, unless it then closes the stream: what it
 * sent (XEP-0198 §6's stream error) then goes out before the stream ends.
 */
function inlineStream(connection: Sasl2Connection, answers: XmlElement[], onClose: () => void): PreBindStream {
  return {
    username: connection.username,
    host: connection.host,
    secure: connection.secure,
    sendRaw: (el) => void answers.push(el),
    adoptSession: (session) => connection.adoptSession(session),
    bindHandedOver: (resource) => connection.bindHandedOver(resource),
    close: (condition, text) => {
      for (const el of answers.splice(0)) connection.sendRaw(el);
      onClose();
      connection.close(condition, text);
    },
  };
}
