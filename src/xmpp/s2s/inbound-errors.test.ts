import { expect } from 'chai';
import { RawS2s } from '../../testing/raw-s2s.js';
import { login, S2sTestEnv } from '../../testing/s2s-env.js';
import { dialbackKey } from './dialback.js';

const streamError = (condition: string): RegExp => new RegExp(`<${condition} xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']`);

/** RFC 6120 §4.9.3: which stream error answers what a peer was not entitled to send. */
describe('s2s: stream errors for inbound stanzas', function () {
  this.timeout(30_000);
  const env = new S2sTestEnv();
  afterEach(() => env.stop());
  after(() => env.dispose());

  it('answers a stanza on a stream that authenticated no domain yet with not-authorized (§4.9.3.12), and does not deliver it', async () => {
    const a = await env.start('a.test');
    const alice = await login(a, 'alice@a.test/r');
    const raw = await RawS2s.open({ host: '127.0.0.1', port: a.s2s!.ports.s2s!, from: 'b.test', to: 'a.test', cert: env.pems['b.test'] });
    try {
      raw.write(`<message from='bob@b.test/r' to='alice@a.test/r' type='chat' id='early'><body>too early</body></message>`);
      await raw.until(streamError('not-authorized'));
      expect(raw.received).to.not.match(streamError('invalid-from'));
      expect(alice.all((st) => st.attrs.id === 'early')).to.deep.equal([]);
    } finally {
      raw.close();
    }
  });

  it('refuses (invalid-from) a stanza from a domain that dialback verified only on another stream of the same peer', async () => {
    const a = await env.start('a.test', { dialbackSecret: 'known' });
    const route = `127.0.0.1:${a.s2s!.ports.s2s!}`;
    const b = await env.start('b.test', { hosts: { 'a.test': route, 'conference.a.test': route } });
    const bob = await login(b, 'bob@b.test/r');
    const open = async (from: string): Promise<RawS2s> => {
      const raw = await RawS2s.open({ host: '127.0.0.1', port: b.s2s!.ports.s2s!, from, to: 'b.test' });
      expect((await raw.dialback(from, 'b.test', dialbackKey('known', 'b.test', from, raw.streamId))).type, from).to.equal('valid');
      return raw;
    };
    const host = await open('a.test');
    const service = await open('conference.a.test');
    try {
      service.write(`<message from='alice@a.test/r' to='bob@b.test/r' type='chat' id='cross'><body>via the wrong stream</body></message>`);
      await service.until(streamError('invalid-from'));
      host.write(`<message from='alice@a.test/r' to='bob@b.test/r' type='chat' id='right'><body>via its own stream</body></message>`);
      await bob.waitFor((st) => st.attrs.id === 'right', 5000);
      expect(bob.all((st) => st.attrs.id === 'cross')).to.deep.equal([]);
    } finally {
      host.close();
      service.close();
    }
  });

  it('closes its side, with no stream error of its own, when the peer sends a stream error (RFC 6120 §4.9.1), after handling what came before it', async () => {
    const a = await env.start('a.test');
    const alice = await login(a, 'alice@a.test/r');
    const raw = await RawS2s.authenticated({ host: '127.0.0.1', port: a.s2s!.ports.s2s!, from: 'b.test', to: 'a.test', cert: env.pems['b.test']! });
    try {
      raw.write(`<message from='bob@b.test/r' to='alice@a.test/r' type='chat' id='last'><body>bye</body></message>`);
      raw.write(`<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`);
      await raw.until(/<\/stream:stream>/, 5000);
      expect(raw.received).to.not.match(/<stream:error/);
      await alice.waitFor((st) => st.attrs.id === 'last', 3000);
    } finally {
      raw.close();
    }
  });
});
