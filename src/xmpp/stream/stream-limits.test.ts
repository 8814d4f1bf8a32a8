import { expect } from 'chai';
import type { Sori } from '../../sori.js';
import { RawClient } from '../../testing/raw-client.js';
import { startTestSori } from '../../testing/test-sori.js';
import { parseJid } from '../../util/jid.js';
import type { XmlElement } from '../../util/xml.js';

const NS_LIMITS = 'urn:xmpp:stream-limits:0';
const MAX = 4096;

/** A message of exactly `bytes` bytes of UTF-8, its body made of `char` (and ASCII to fill up). */
function messageOfBytes(bytes: number, id: string, char: string): string {
  const head = `<message to='bob@localhost/r' id='${id}' type='chat'><body>`;
  const tail = '</body></message>';
  const room = bytes - Buffer.byteLength(head + tail);
  const width = Buffer.byteLength(char);
  const stanza = head + char.repeat(Math.floor(room / width)) + 'x'.repeat(room % width) + tail;
  expect(Buffer.byteLength(stanza)).to.equal(bytes);
  return stanza;
}

/** XEP-0478: what a client is told of the limits, and that what it is told holds. */
describe('c2s stream limits (XEP-0478)', function () {
  this.timeout(20000);
  let sori: Sori;
  let port: number;

  before(async () => {
    sori = await startTestSori({ c2s: { maxStanzaSize: MAX }, modules: { options: { ping: { idleSeconds: 90 } } } });
    port = sori.listening.ports.c2s!;
    await sori.server.createAccount(parseJid('alice@localhost'), 'secret');
    await sori.server.createAccount(parseJid('bob@localhost'), 'secret');
  });
  after(() => sori.stop());

  /** Logs in as `user` and returns the features before and after authentication; the stream is left before binding. */
  async function featuresAroundAuth(c: RawClient, user: string): Promise<{ before: XmlElement; after: XmlElement }> {
    await c.startTls();
    c.open();
    const before = await c.features();
    expect((await c.scram(user, 'secret')).name).to.equal('success');
    c.open();
    return { before, after: await c.features() };
  }

  it('advertises max-bytes (c2s.maxStanzaSize) and idle-seconds (the ping module\'s) after authentication, not before', async () => {
    const c = await RawClient.connect(port);
    try {
      const { before, after } = await featuresAroundAuth(c, 'alice');
      expect(before.getChild('limits', NS_LIMITS)).to.equal(undefined);
      const limits = after.getChild('limits', NS_LIMITS)!;
      expect(limits, after.toString()).to.not.equal(undefined);
      expect(limits.getChildText('max-bytes')).to.equal(String(MAX));
      expect(limits.getChildText('idle-seconds')).to.equal('90');
      expect(after.getChildren('limits', NS_LIMITS)).to.have.length(1);
    } finally {
      c.destroy();
    }
  });

  it('accepts a stanza of exactly max-bytes bytes, of multi-byte UTF-8 or of ASCII, and closes one well above it with policy-violation', async () => {
    const bob = await RawClient.connect(port);
    const alice = await RawClient.connect(port);
    try {
      await bob.login('bob', 'secret', 'r');
      const { after } = await featuresAroundAuth(alice, 'alice');
      const maxBytes = Number(after.getChild('limits', NS_LIMITS)!.getChildText('max-bytes'));
      alice.write(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>big</resource></bind></iq>`);
      await alice.next((e) => e.attrs.id === 'bind');

      // Euro signs (3 bytes, 1 UTF-16 unit), a G clef (4 bytes, 2 units), and ASCII, where bytes and characters are as many.
      for (const [char, id] of [['€', 'euro'], ['𝄞', 'clef'], ['x', 'ascii']] as const) {
        alice.write(messageOfBytes(maxBytes, id, char));
        const got = await bob.next((e) => e.name === 'message' && e.attrs.id === id);
        expect(got.getChildText('body')!.startsWith(char.repeat(10))).to.equal(true);
      }

      alice.write(messageOfBytes(maxBytes * 2, 'too-big', 'x'));
      const err = await alice.next((e) => e.name === 'stream:error');
      expect(err.elements()[0]?.name).to.equal('policy-violation');
      await alice.waitClosed();
    } finally {
      alice.destroy();
      bob.destroy();
    }
  });
});

describe('c2s stream limits without the ping module', function () {
  this.timeout(20000);
  let sori: Sori;

  before(async () => {
    sori = await startTestSori({ c2s: { maxStanzaSize: MAX }, modules: { disabled: ['ping'] } });
    await sori.server.createAccount(parseJid('alice@localhost'), 'secret');
  });
  after(() => sori.stop());

  it('advertises no idle-seconds: nothing then acts on a silent client', async () => {
    const c = await RawClient.connect(sori.listening.ports.c2s!);
    try {
      await c.startTls();
      c.open();
      await c.features();
      expect((await c.scram('alice', 'secret')).name).to.equal('success');
      c.open();
      const limits = (await c.features()).getChild('limits', NS_LIMITS)!;
      expect(limits.getChildText('max-bytes')).to.equal(String(MAX));
      expect(limits.getChild('idle-seconds')).to.equal(undefined);
    } finally {
      c.destroy();
    }
  });
});

/**
 * XEP-0388 SASL2 with XEP-0386 Bind2: no stream restart, so no features after
 * authentication. XEP-0478 says nothing of <success/> or <bound/>; its limits
 * go in the features at the start of the stream, where Prosody offers them.
 */
describe('c2s stream limits for a client that logs in with SASL2 and binds with Bind2', function () {
  this.timeout(20000);
  let sori: Sori;
  let port: number;

  before(async () => {
    sori = await startTestSori({ c2s: { maxStanzaSize: MAX, sasl2: true }, modules: { options: { ping: { idleSeconds: 90 } } } });
    port = sori.listening.ports.c2s!;
    await sori.server.createAccount(parseJid('alice@localhost'), 'secret');
    await sori.server.createAccount(parseJid('bob@localhost'), 'secret');
  });
  after(() => sori.stop());

  it('advertises max-bytes and idle-seconds beside the SASL2 offer, the only features it sees, and they hold on the session Bind2 binds', async () => {
    const bob = await RawClient.connect(port);
    const alice = await RawClient.connect(port);
    try {
      await bob.login('bob', 'secret', 'r');
      await alice.startTls();
      alice.open();
      const features = await alice.features();
      expect(features.getChild('authentication', 'urn:xmpp:sasl:2'), features.toString()).to.not.equal(undefined);
      expect(features.getChildren('limits', NS_LIMITS), features.toString()).to.have.length(1);
      const limits = features.getChild('limits', NS_LIMITS)!;
      expect(limits.getChildText('max-bytes')).to.equal(String(MAX));
      expect(limits.getChildText('idle-seconds')).to.equal('90');

      const success = await alice.scram2('alice', 'secret', `<bind xmlns='urn:xmpp:bind:0'><tag>phone</tag></bind>`);
      expect(success.name, success.toString()).to.equal('success');
      expect(success.getChild('bound', 'urn:xmpp:bind:0'), success.toString()).to.not.equal(undefined);

      // Bound without a restart: what the features said is what the session is held to.
      const maxBytes = Number(limits.getChildText('max-bytes'));
      alice.write(messageOfBytes(maxBytes, 'euro', '€'));
      expect((await bob.next((e) => e.name === 'message' && e.attrs.id === 'euro')).getChildText('body')!.startsWith('€€€')).to.equal(true);
      alice.write(messageOfBytes(maxBytes * 2, 'too-big', 'x'));
      const err = await alice.next((e) => e.name === 'stream:error');
      expect(err.elements()[0]?.name).to.equal('policy-violation');
    } finally {
      alice.destroy();
      bob.destroy();
    }
  });
});
