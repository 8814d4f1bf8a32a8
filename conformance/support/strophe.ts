/**
 * Strophe.js, the library under Converse.js, as a Node client over BOSH
 * (XEP-0206) or WebSocket (RFC 7395). In a browser Strophe's BOSH uses the
 * browser's XMLHttpRequest, which parses the response into `responseXML`;
 * here xhr2 makes the requests and @xmldom/xmldom (Strophe's own DOM in
 * Node) does that parsing.
 */
import { DOMParser } from '@xmldom/xmldom';
import XHR2 from 'xhr2';
import { Strophe } from 'strophe.js';
import { withTimeout } from './clients.js';

class BrowserLikeXhr extends XHR2 {
  get responseXML(): unknown {
    return this.responseText ? new DOMParser().parseFromString(this.responseText, 'text/xml') : null;
  }
}
(globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest ??= BrowserLikeXhr;
// Strophe logs every request at debug level to the console.
Strophe.setLogLevel(Strophe.LogLevel.WARN);

export type StropheConnection = InstanceType<typeof Strophe.Connection>;

/** Connects and resolves once Strophe reports the session (SASL, bind) established. */
export async function connectStrophe(url: string, jid: string, password: string, ms = 10_000): Promise<StropheConnection> {
  const conn = new Strophe.Connection(url);
  const connected = new Promise<void>((ok, fail) => {
    conn.connect(jid, password, (status: number, condition?: string | null) => {
      if (status === Strophe.Status.CONNECTED) ok();
      else if (status === Strophe.Status.AUTHFAIL || status === Strophe.Status.CONNFAIL || status === Strophe.Status.DISCONNECTED) fail(new Error(`strophe: ${Strophe.Status[status] ?? status} ${condition ?? ''} (${url})`));
    });
  });
  await withTimeout(connected, ms, `strophe login of ${jid} over ${url}`);
  return conn;
}

/** The part of a received DOM element read here (Node has no DOM types; xmldom's elements have these). */
interface ReceivedElement {
  getAttribute(name: string): string | null;
  getElementsByTagName(name: string): ArrayLike<{ textContent: string | null }>;
}

/** Messages with a body that a connection receives, as { from, body }. */
export function recordMessages(conn: StropheConnection): Array<{ from: string; body: string }> {
  const got: Array<{ from: string; body: string }> = [];
  conn.addHandler((msg: ReceivedElement) => {
    const body = msg.getElementsByTagName('body')[0]?.textContent;
    if (body !== undefined && body !== null) got.push({ from: msg.getAttribute('from') ?? '', body });
    return true;
  }, null, 'message');
  return got;
}
