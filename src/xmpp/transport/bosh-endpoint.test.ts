import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config.js';
import { startSori, type Sori } from '../../sori.js';
import { MemoryStore } from '../../storage/memory/index.js';
import { parseJid } from '../../util/jid.js';
import type { XmlElement } from '../../util/xml.js';
import { parseXml } from '../stream/parse-xml.js';

const NS = `xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  body: XmlElement;
}

/** A BOSH client as Strophe.js (Converse.js) is one: numbered POSTs over real HTTP connections. */
class BoshClient {
  sid = '';
  rid = 1000;
  /** The full JID bound. */
  jid = '';

  constructor(private readonly url: string) {}

  async post(xml: string | Buffer, signal?: AbortSignal): Promise<Answer> {
    const res = await fetch(this.url, { method: 'POST', body: xml, headers: { 'content-type': 'text/xml; charset=utf-8' }, signal });
    return { status: res.status, body: parseXml(await res.text()) };
  }

  /** A request of this session with the next rid (or a given one, to resend it). */
  request(payload = '', attrs = '', rid = ++this.rid, signal?: AbortSignal): Promise<Answer> {
    return this.post(`<body ${NS} rid='${rid}' sid='${this.sid}'${attrs}>${payload}</body>`, signal);
  }

  /** Session creation, PLAIN login, stream restart and bind: a client ready to send stanzas. */
  async login(user: string): Promise<void> {
    const created = await this.post(`<body ${NS} rid='${this.rid}' to='localhost' wait='10' hold='1' ver='1.6' xmpp:version='1.0'/>`);
    this.sid = created.body.attrs.sid!;
    if (created.body.getChild('stream:features') === undefined) await this.until('', '', (b) => b.getChild('stream:features') !== undefined);
    const plain = Buffer.from(`\0${user}\0secret`).toString('base64');
    await this.until(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain}</auth>`, '', (b) => b.getChild('success') !== undefined);
    await this.until('', ` to='localhost' xmpp:restart='true'`, (b) => b.getChild('stream:features') !== undefined);
    const bound = await this.until(`<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`, '', (b) => b.getChild('iq') !== undefined);
    this.jid = bound.getChild('iq')!.getChild('bind')!.getChildText('jid')!;
  }

  /**
   * Sends a request with `rid` (empty, or with `payload`) whose connection then breaks unanswered, and resends it as Strophe.js
   * does (§14.3): the resent request (wrapped, so awaiting this does not wait for its answer), once the server
   * has had time to take it.
   */
  async breakAndResend(rid: number, payload = ''): Promise<{ resent: Promise<Answer> }> {
    const abort = new AbortController();
    const lost = this.request(payload, '', rid, abort.signal).catch(() => null);
    await sleep(100);
    abort.abort();
    await lost;
    await sleep(100);
    const resent = this.request(payload, '', rid);
    await sleep(100);
    return { resent };
  }

  /** Sends `payload`, then polls until a response satisfies `done`. */
  async until(payload: string, attrs: string, done: (b: XmlElement) => boolean): Promise<XmlElement> {
    let answer = await this.request(payload, attrs);
    for (let i = 0; !done(answer.body); i++) {
      if (answer.body.attrs.type === 'terminate' || i > 20) throw new Error(`no answer: ${answer.body.toString()}`);
      answer = await this.request();
    }
    return answer.body;
  }
}

const PING = `<iq xmlns='jabber:client' type='get' id='ping'><ping xmlns='urn:xmpp:ping'/></iq>`;

describe('BOSH endpoint over HTTP (XEP-0124, XEP-0206)', function () {
  this.timeout(20000);
  let sori: Sori;
  let url: string;

  before(async () => {
    const config = loadConfig({
      env: {},
      overrides: {
        server: { dataDir: mkdtempSync(join(tmpdir(), 'sori-bosh-')), logLevel: 'error' },
        storage: { backend: 'memory' },
        c2s: { maxStanzaSize: 10000 },
        websocket: { consideredSecure: true },
        bosh: { maxQueuedBytes: 65536, maxPauseSeconds: 300 },
      },
    });
    sori = await startSori(config, { ephemeralPorts: true, store: new MemoryStore() });
    url = `http://127.0.0.1:${sori.listening.ports.ws!}/http-bind`;
    for (const user of ['alice', 'bob']) await sori.server.createAccount(parseJid(`${user}@localhost`), 'secret');
  });
  after(async () => {
    await sori.stop();
  });

  it('holds again a request the client resends after its connection broke unanswered, as Strophe does after 1.1 × wait (§14.3)', async () => {
    const c = new BoshClient(url);
    await c.login('alice');
    const { resent } = await c.breakAndResend(++c.rid);
    // The next request frees the resent one (hold=1), and the session goes on.
    const next = c.until(PING, '', (b) => b.getChild('iq')?.attrs.type === 'result');
    expect((await resent).body.attrs.type).to.equal(undefined);
    await next;
  });

  it('takes a body with a stanza of non-Latin text within the stanza limit (counted in characters), and refuses a longer body with policy-violation, HTTP 200 (§19)', async () => {
    const c = new BoshClient(url);
    await c.login('bob');
    // 9,000 characters, three bytes each in UTF-8: under this server's 10,000, though 27 KB on the wire, as over WebSocket.
    const text = '漢'.repeat(9000);
    const echoed = await c.until(`<message xmlns='jabber:client' to='${c.jid}' id='cjk'><body>${text}</body></message>`, '', (b) => b.getChild('message') !== undefined);
    expect(echoed.getChild('message')!.getChildText('body')).to.equal(text);
    // Over the body's limit in bytes (four stanzas' worth), and, in ASCII, in characters only.
    for (const big of ['漢'.repeat(60000), 'a'.repeat(50000)]) {
      const refused = await c.request(`<message xmlns='jabber:client' to='${c.jid}'><body>${big}</body></message>`);
      expect(refused.status).to.equal(200);
      expect(refused.body.attrs).to.include({ type: 'terminate', condition: 'policy-violation' });
    }
  });

  it('takes several stanzas near the stanza limit in one body, as Strophe.js batches what it has queued (§7.3)', async () => {
    const c = new BoshClient(url);
    await c.login('bob');
    const texts = ['1', '2', '3'].map((n) => n.repeat(9000));
    const batch = texts.map((t, i) => `<message xmlns='jabber:client' to='${c.jid}' id='m${i}'><body>${t}</body></message>`).join('');
    const echoed: string[] = [];
    await c.until(batch, '', (b) => {
      echoed.push(...b.getChildren('message').map((m) => m.getChildText('body')!));
      return echoed.length === 3;
    });
    expect(echoed).to.deep.equal(texts);
  });

  it('ends the session a body that cannot be parsed names (bad-request, §19): later requests get item-not-found, and a message waiting for it goes to offline storage', async () => {
    const alice = new BoshClient(url);
    await alice.login('alice');
    // Stream management counts what is written to the client, so what it has not acknowledged outlives the session.
    await alice.until(`<enable xmlns='urn:xmpp:sm:3'/>`, '', (b) => b.getChild('enabled') !== undefined);
    const bob = new BoshClient(url);
    await bob.login('bob');
    // Alice has no request open: the message waits in her session for her next one.
    // Bob's request is held until something comes for him: not awaited.
    void bob.request(`<message xmlns='jabber:client' to='${alice.jid}' type='chat' id='waiting'><body>still there?</body></message>`).catch(() => null);
    await sleep(200);
    const broken = await alice.post(`<body ${NS} rid='${++alice.rid}' sid='${alice.sid}'><message to='bob@localhost'><body>cut</body></body>`);
    expect(broken.body.attrs).to.include({ type: 'terminate', condition: 'bad-request' });
    const after = await alice.request();
    expect(after.body.attrs).to.include({ type: 'terminate', condition: 'item-not-found' });
    expect(after.body.getChild('message')).to.equal(undefined);
    const again = new BoshClient(url);
    await again.login('alice');
    const offline = await again.until(`<presence xmlns='jabber:client'/>`, '', (b) => b.getChild('message') !== undefined);
    expect(offline.getChild('message')!.getChildText('body')).to.equal('still there?');
  });

  it('ends a session whose client sends no request while more than bosh.maxQueuedBytes waits for it, as a dead connection: the messages go to offline storage', async () => {
    const alice = new BoshClient(url);
    await alice.login('alice');
    await alice.until(`<enable xmlns='urn:xmpp:sm:3'/>`, '', (b) => b.getChild('enabled') !== undefined);
    const bob = new BoshClient(url);
    await bob.login('bob');
    // Three messages of 27 KB in UTF-8 for Alice, who has no request open: over the 64 KiB this server keeps.
    const texts = ['甲', '乙', '丙'].map((c) => c.repeat(9000));
    void bob.request(texts.map((t) => `<message xmlns='jabber:client' to='${alice.jid}' type='chat'><body>${t}</body></message>`).join('')).catch(() => null);
    await sleep(300);
    const after = await alice.request();
    expect(after.body.attrs).to.include({ type: 'terminate', condition: 'item-not-found' });
    const again = new BoshClient(url);
    await again.login('alice');
    const received: string[] = [];
    await again.until(`<presence xmlns='jabber:client'/>`, '', (b) => {
      received.push(...b.getChildren('message').map((m) => m.getChildText('body')!));
      return received.length === 3;
    });
    expect(received).to.deep.equal(texts);
  });

  it('ends the session of a client that sends two empty requests at once (§11 overactivity, policy-violation): a message waiting for it goes to offline storage', async () => {
    const alice = new BoshClient(url);
    await alice.login('alice');
    await alice.until(`<enable xmlns='urn:xmpp:sm:3'/>`, '', (b) => b.getChild('enabled') !== undefined);
    const bob = new BoshClient(url);
    await bob.login('bob');
    // Alice has no request open: the message waits in her session for her next one.
    void bob.request(`<message xmlns='jabber:client' to='${alice.jid}' type='chat'><body>overactive?</body></message>`).catch(() => null);
    await sleep(200);
    // Two empty requests, neither answered, the second sent within a second of the first: the later rid comes first.
    const second = alice.request('', '', alice.rid + 2);
    await sleep(100);
    const first = await alice.request('', '', alice.rid + 1);
    for (const answer of [first, await second]) {
      expect(answer.body.attrs).to.include({ type: 'terminate', condition: 'policy-violation' });
      expect(answer.body.getChild('message')).to.equal(undefined);
    }
    alice.rid += 2;
    expect((await alice.request()).body.attrs).to.include({ type: 'terminate', condition: 'item-not-found' });
    const again = new BoshClient(url);
    await again.login('alice');
    const offline = await again.until(`<presence xmlns='jabber:client'/>`, '', (b) => b.getChild('message') !== undefined);
    expect(offline.getChild('message')!.getChildText('body')).to.equal('overactive?');
  });

  it('takes the resent copy of a request that waits for a lost one before it, and answers both once the lost one comes (§14.2, §14.3)', async () => {
    const c = new BoshClient(url);
    await c.login('alice');
    const lostRid = ++c.rid;
    const rid = ++c.rid;
    // The request before it (empty, to be held) was lost on the way: this one, a payload sent beside it, waits,
    // its connection breaks, and the client resends both.
    const { resent } = await c.breakAndResend(rid, PING);
    const first = await c.request('', '', lostRid);
    expect(first.body.attrs.type).to.equal(undefined);
    const second = (await resent).body;
    expect(second.attrs.type).to.equal(undefined);
    expect(second.getChild('iq')?.attrs.type).to.equal('result');
  });

  it('answers the session creation request with the attributes Strophe.js reads, the maxpause configured, xmpp:restartlogic, and no caching (XEP-0124 §7.1, XEP-0206 §3)', async () => {
    const res = await fetch(url, { method: 'POST', body: `<body ${NS} rid='1' to='localhost' wait='600' hold='2' ver='1.6' xml:lang='en' content='text/xml; charset=utf-8' xmpp:version='1.0'/>` });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/xml; charset=utf-8');
    expect(res.headers.get('cache-control')).to.equal('no-store');
    expect(res.headers.get('access-control-allow-origin')).to.equal('*');
    const body = parseXml(await res.text());
    expect(body.attrs).to.include({ wait: '60', hold: '1', requests: '2', maxpause: '300', ver: '1.6', 'xmpp:version': '1.0', 'xmpp:restartlogic': 'true', from: 'localhost' });
    expect(body.getChild('stream:features')).to.not.equal(undefined);
  });
});
