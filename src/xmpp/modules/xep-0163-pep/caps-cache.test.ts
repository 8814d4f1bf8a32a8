import { expect } from 'chai';
import { x, type XmlElement } from '../../../util/xml.js';
import { capsVer } from '../xep-0115-caps/ver.js';
import { CapsCache, NS_CAPS, type CapsRef } from './caps-cache.js';

const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const MOOD = 'http://jabber.org/protocol/mood+notify';
const TUNE = 'http://jabber.org/protocol/tune+notify';
const IDENTITY = { category: 'client', type: 'pc', name: 'test' };
/** What an honest client with mood and tune notifications says of itself. */
const HONEST = [NS_CAPS, NS_DISCO_INFO, MOOD, TUNE];
const VER = capsVer([IDENTITY], HONEST, []);
const REF: CapsRef = { node: 'https://test.example', ver: VER, hash: 'sha-1', key: `https://test.example#${VER}` };

function answer(features: string[], identity: { category: string; type: string; name?: string } = IDENTITY): XmlElement {
  return x('iq', { type: 'result' }, x('query', { xmlns: NS_DISCO_INFO, node: REF.key }, x('identity', identity), ...features.map((f) => x('feature', { var: f }))));
}

/** A cache whose disco#info queries each full JID answers from `replies`; `asked` records who was asked. */
function cacheAnswering(replies: Record<string, () => Promise<XmlElement | null>>): { cache: CapsCache; asked: string[] } {
  const asked: string[] = [];
  const cache = new CapsCache((full) => {
    asked.push(full);
    return replies[full]!();
  }, 100);
  return { cache, asked };
}

describe('XEP-0163 PEP: caps cache (XEP-0115 §5.4)', () => {
  it('shares an answer that hashes to its ver, asking once', async () => {
    const { cache, asked } = cacheAnswering({ 'bob@localhost/pc': async () => answer(HONEST) });
    expect([...(await cache.resolve('bob@localhost/pc', REF))!]).to.deep.equal(HONEST);
    expect(cache.peek('carol@localhost/pc', REF)).to.deep.equal(new Set(HONEST));
    expect(asked).to.deep.equal(['bob@localhost/pc']);
  });

  it("does not hand one client's unverified answer to another that announced the same ver while it was asked", async () => {
    let lie!: (r: XmlElement) => void;
    const { cache, asked } = cacheAnswering({
      'mallory@localhost/x': () => new Promise((resolve) => (lie = resolve)),
      'bob@localhost/pc': async () => answer(HONEST),
    });
    const mallory = cache.resolve('mallory@localhost/x', REF);
    const bob = cache.resolve('bob@localhost/pc', REF);
    lie(answer([NS_CAPS, NS_DISCO_INFO])); // does not hash to VER
    expect([...(await mallory)!]).to.deep.equal([NS_CAPS, NS_DISCO_INFO]);
    expect([...(await bob)!]).to.deep.equal(HONEST);
    expect(asked).to.deep.equal(['mallory@localhost/x', 'bob@localhost/pc']);
  });

  it('asks a client itself when another that announced the same ver never answered', async () => {
    const { cache, asked } = cacheAnswering({
      'mallory@localhost/x': async () => null, // timed out
      'bob@localhost/pc': async () => answer(HONEST),
    });
    const mallory = cache.resolve('mallory@localhost/x', REF);
    const bob = cache.resolve('bob@localhost/pc', REF);
    expect(await mallory).to.equal(null);
    expect([...(await bob)!]).to.deep.equal(HONEST);
    expect(asked).to.deep.equal(['mallory@localhost/x', 'bob@localhost/pc']);
  });

  it("does not share an answer that hashes to ver only by splitting the verification string's terms differently (the '<' preimage attack)", async () => {
    const { cache } = cacheAnswering({
      // S is the same as HONEST's, but mood+notify is gone: one feature swallows it.
      'mallory@localhost/x': async () => answer([NS_CAPS, NS_DISCO_INFO, `${MOOD}<${TUNE}`]),
      // An identity made of a feature: 'http:' / '' / 'jabber.org' / 'protocol/caps'.
      'eve@localhost/x': async () =>
        x('iq', { type: 'result' }, x('query', { xmlns: NS_DISCO_INFO }, x('identity', IDENTITY), x('identity', { category: 'http:', type: '', 'xml:lang': 'jabber.org', name: 'protocol/caps' }), ...[NS_DISCO_INFO, MOOD, TUNE].map((f) => x('feature', { var: f })))),
    });
    expect(await cache.resolve('mallory@localhost/x', REF)).to.not.equal(null);
    expect(cache.peek('bob@localhost/pc', REF)).to.equal(undefined);
    expect(await cache.resolve('eve@localhost/x', REF)).to.not.equal(null);
    expect(cache.peek('bob@localhost/pc', REF)).to.equal(undefined);
  });
});
