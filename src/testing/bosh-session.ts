/** Fakes for driving a BoshSession without HTTP: the responses it writes, and the bodies clients post. */

import type { ServerResponse } from 'node:http';
import { parseXml } from '../xmpp/stream/parse-xml.js';
import type { XmlElement } from '../util/xml.js';
import { BoshSession, NS_HTTPBIND, type BoshLimits } from '../xmpp/transport/bosh.js';

export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Records what a request's response would carry; `close` stands for the client dropping the request. */
export class RecordedResponse {
  writableEnded = false;
  status = 0;
  body: XmlElement | null = null;
  private readonly closers: Array<() => void> = [];
  writeHead(status: number): this {
    this.status = status;
    return this;
  }
  end(text: string): void {
    this.writableEnded = true;
    this.body = parseXml(text);
  }
  once(event: string, fn: () => void): void {
    if (event === 'close') this.closers.push(fn);
  }
  drop(): void {
    for (const fn of this.closers) fn();
  }
  destroyed = false;
  destroy(): void {
    this.destroyed = true;
  }
  get answered(): boolean {
    return this.writableEnded;
  }
}

/** A request's `<body/>` with these attributes around `payload`. */
export function bodyOf(attrs: Record<string, string>, payload = ''): XmlElement {
  const a = Object.entries(attrs).map(([k, v]) => ` ${k}='${v}'`).join('');
  return parseXml(`<body xmlns='${NS_HTTPBIND}'${a}>${payload}</body>`);
}

/** A session as the endpoint opens one, its c2s stream reduced to what it is sent and whether it was closed. */
export interface OpenedSession {
  session: BoshSession;
  created: RecordedResponse;
  /** What the c2s stream was handed, chunk by chunk. */
  input: string[];
  /** The c2s stream was told its transport closed. */
  closed(): boolean;
  /** A request of this session. */
  send(attrs: Record<string, string>, payload?: string): RecordedResponse;
}

/** Opens a session with rid 100 whose stream answers the opening with features, as a c2s stream does. */
export function openSession(limits: BoshLimits, wait = '30', hold = '1'): OpenedSession {
  const input: string[] = [];
  let closed = false;
  const creation = bodyOf({ rid: '100', to: 'localhost', wait, hold, 'xmpp:version': '1.0' });
  const session = new BoshSession(creation, '127.0.0.1', false, limits, () => undefined);
  session.start((chunk) => {
    input.push(chunk);
    if (chunk.startsWith('<open')) {
      session.openStream({ id: 'stream-1', from: 'localhost' });
      session.write(`<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>`);
    }
  }, () => (closed = true));
  const created = new RecordedResponse();
  session.create(creation, created as unknown as ServerResponse);
  const send = (attrs: Record<string, string>, payload = ''): RecordedResponse => {
    const res = new RecordedResponse();
    session.request(bodyOf({ sid: session.sid, ...attrs }, payload), res as unknown as ServerResponse);
    return res;
  };
  return { session, created, input, closed: () => closed, send };
}
