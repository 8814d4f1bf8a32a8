import type { IncomingMessage, ServerResponse } from 'node:http';
import { closeAfterAnswer } from '../../util/http-linger.js';
import type { XmlElement } from '../../util/xml.js';
import type { Server } from '../server.js';
import { C2sConnection } from '../stream/c2s.js';
import { XmppParser } from '../stream/parser.js';
import { BoshSession, NS_HTTPBIND, bodyXml, writeBody } from './bosh.js';

/** Browsers' clients (Converse.js) post from other origins; BOSH carries no cookies, so any origin may. */
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-allow-headers': 'Content-Type',
  'access-control-max-age': '86400',
};

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
    // A body holds a few stanzas at most; the framing around them is small. The stanza limit counts characters,
    // and one takes up to 3 bytes of UTF-8 (as for WebSocket's maxPayload): the parser counts the characters.
    const limit = this.server.config.c2s.maxStanzaSize * 3 + 8192;
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
        writeBody(res, bodyXml({ type: 'terminate', condition: 'policy-violation' }));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => {
      if (size > limit) return;
      const body = this.parse(Buffer.concat(chunks));
      if (body === null) return writeBody(res, bodyXml({ type: 'terminate', condition: 'bad-request' }));
      this.dispatch(body, req, res);
    });
    req.on('error', () => undefined);
  }

  /** Ends every session (shutdown): their clients get a terminate body. */
  close(): void {
    for (const s of [...this.sessions.values()]) s.destroy();
  }

  /** The request's `<body/>`, or null when it is not one: not well-formed, not UTF-8 (bytes, not a decoded string, are parsed, so that invalid ones are refused rather than replaced with U+FFFD). */
  private parse(bytes: Buffer): XmlElement | null {
    const c = this.server.config.c2s;
    let out: XmlElement | null = null;
    try {
      const parser = new XmppParser({ streamStart: () => {}, stanza: (el) => (out ??= el), streamEnd: () => {} }, { maxStanzaSize: c.maxStanzaSize + 8192, maxDepth: c.maxDepth + 1, maxAttributes: c.maxAttributes }, true);
      parser.writeBytes(bytes);
    } catch {
      return null;
    }
    const body = out as XmlElement | null;
    if (body === null || body.name !== 'body' || body.attrs.xmlns !== NS_HTTPBIND) return null;
    const rid = Number(body.attrs.rid);
    // §7.1: rid is a positive integer below 2^53.
    if (body.attrs.rid === undefined || !Number.isSafeInteger(rid) || rid < 0) return null;
    return body;
  }

  private dispatch(body: XmlElement, req: IncomingMessage, res: ServerResponse): void {
    const sid = body.attrs.sid;
    if (sid === undefined) {
      if (body.attrs.to === undefined) return writeBody(res, bodyXml({ type: 'terminate', condition: 'improper-addressing' }));
      const limits = this.server.config.bosh;
      const session = new BoshSession(body, req.socket.remoteAddress ?? 'unknown', this.secure, limits, (s) => this.sessions.delete(s.sid));
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
