import type { IncomingMessage, ServerResponse } from 'node:http';
import { closeAfterAnswer } from '../../util/http-linger.js';
import type { XmlElement } from '../../util/xml.js';
import type { Server } from '../server.js';
import { C2sConnection } from '../stream/c2s.js';
import { ParseError, XmppParser } from '../stream/parser.js';
import { BoshSession } from './bosh.js';
import { bodyXml, NS_HTTPBIND, writeBody } from './bosh-body.js';

/** Browsers' clients (Converse.js) post from other origins; BOSH carries no cookies, so any origin may. */
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-allow-headers': 'Content-Type',
  'access-control-max-age': '86400',
};

/**
 * Full-size stanzas a request's `<body/>` may carry. XEP-0124 lets a client send whatever it has queued in
 * one request (Strophe.js sends its whole queue at once), so the cap is not one stanza's: four of the
 * largest admits a reconnecting client's burst (room joins, a MAM query, presence: hundreds of ordinary
 * stanzas) or a couple of large ones (an avatar publish beside a message). It stays a multiple of the
 * stanza limit, not unbounded: the whole body is buffered and parsed before any of it is taken, and a
 * client may have two requests open. Each stanza in it is still held to the stanza limit by the c2s parser.
 */
const STANZAS_PER_BODY = 4;
/** Room for the `<body/>` wrapper and what stanzas carry beyond their own text (namespaces, whitespace). */
const FRAMING = 8192;

/** The session id a request names, read from the head of its bytes: for a body that cannot be parsed, to end its session. */
function sidIn(head: Buffer): string | undefined {
  return /<body\b[^>]*?\ssid\s*=\s*(?:'([^'<>]*)'|"([^"<>]*)")/.exec(head.toString('latin1', 0, 2048))?.slice(1).find((v) => v !== undefined);
}

/**
 * The BOSH endpoint (XEP-0124 with XEP-0206) of one HTTP listener: parses
 * each POSTed `<body/>` with the same parser and limits as any client input
 * (no DTDs or entities, bounded size and depth), then opens a session or
 * hands the body to the session its `sid` names.
 */
export class BoshEndpoint {
  private readonly sessions = new Map<string, BoshSession>();

  constructor(
    private readonly server: Server,
    private readonly secure: boolean,
  ) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    for (const [k, v] of Object.entries(CORS)) res.setHeader(k, v);
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST, OPTIONS', 'content-type': 'text/plain' }).end('BOSH: POST a <body/> (XEP-0124)\n');
      return;
    }
    // The parser counts characters (bodyChars); one takes up to 3 bytes of UTF-8, as for WebSocket's maxPayload.
    const limit = this.bodyChars() * 3;
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // The rest of the body is read and dropped until the connection closes.
        req.off('data', onData);
        req.resume();
        // §19: a binding error is an HTTP 200 for every version clients speak (Strophe.js asks for 1.6); a 413 reads as a broken connection.
        res.setHeader('connection', 'close');
        closeAfterAnswer(res);
        this.refuse(chunks[0] ?? chunk, res, 'policy-violation');
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => {
      if (size > limit) return;
      const bytes = Buffer.concat(chunks);
      const body = this.parse(bytes);
      if (typeof body === 'string') return this.refuse(bytes, res, body);
      this.dispatch(body, req, res);
    });
    req.on('error', () => undefined);
  }

  /** Ends every session (shutdown): their clients get a terminate body. */
  close(): void {
    for (const s of [...this.sessions.values()]) s.destroy();
  }

  /** The largest `<body/>` taken, in characters. */
  private bodyChars(): number {
    return this.server.config.c2s.maxStanzaSize * STANZAS_PER_BODY + FRAMING;
  }

  /**
   * A terminal binding error (§19) for a request that cannot be taken. It ends the session the request
   * names, if it names one: the client takes it for ended, and kept alive it would take the client's
   * messages until the inactivity timeout with nobody reading them.
   */
  private refuse(bytes: Buffer, res: ServerResponse, condition: 'bad-request' | 'policy-violation'): void {
    writeBody(res, bodyXml({ type: 'terminate', condition }));
    const sid = sidIn(bytes);
    if (sid !== undefined) this.sessions.get(sid)?.fail(condition);
  }

  /**
   * The request's `<body/>`, or the binding error it gets when it is not one: not well-formed, not UTF-8
   * (bytes, not a decoded string, are parsed, so that invalid ones are refused rather than replaced with
   * U+FFFD), or larger than the parser takes (policy-violation, as for a body over the byte limit).
   */
  private parse(bytes: Buffer): XmlElement | 'bad-request' | 'policy-violation' {
    const c = this.server.config.c2s;
    let out: XmlElement | null = null;
    try {
      const parser = new XmppParser({ onStreamStart: () => {}, onStanza: (el) => (out ??= el), onStreamEnd: () => {} }, { maxStanzaSize: this.bodyChars(), maxDepth: c.maxDepth + 1, maxAttributes: c.maxAttributes }, true);
      parser.writeBytes(bytes);
    } catch (e) {
      return e instanceof ParseError && e.condition === 'policy-violation' ? 'policy-violation' : 'bad-request';
    }
    const body = out as XmlElement | null;
    if (body === null || body.name !== 'body' || body.attrs.xmlns !== NS_HTTPBIND) return 'bad-request';
    const rid = Number(body.attrs.rid);
    // §7.1: rid is a positive integer below 2^53.
    if (body.attrs.rid === undefined || !Number.isSafeInteger(rid) || rid < 0) return 'bad-request';
    return body;
  }

  private dispatch(body: XmlElement, req: IncomingMessage, res: ServerResponse): void {
    const sid = body.attrs.sid;
    if (sid === undefined) {
      if (body.attrs.to === undefined) return writeBody(res, bodyXml({ type: 'terminate', condition: 'improper-addressing' }));
      const limits = this.server.config.bosh;
      const session = new BoshSession(body, req.socket.remoteAddress ?? 'unknown', this.secure, limits, (s) => this.sessions.delete(s.sid), (s, bytes) =>
        this.server.log.warn(`BOSH session from ${s.remoteAddress} ended: ${bytes} bytes waited for a client that sent no request (bosh.maxQueuedBytes)`),
      );
      this.sessions.set(session.sid, session);
      new C2sConnection(this.server, session);
      session.create(body, res);
      return;
    }
    const session = this.sessions.get(sid);
    if (session === undefined) return writeBody(res, bodyXml({ type: 'terminate', condition: 'item-not-found' }));
    session.request(body, res);
  }
}
