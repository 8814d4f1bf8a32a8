import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { x, type XmlElement } from '../../../util/xml.js';
import roster from '../rfc6121-roster/index.js';
import offline from '../xep-0160-offline/index.js';
import presence from './index.js';

const isPresence = (from: string, type?: string) => (el: XmlElement) => el.name === 'presence' && el.attrs.from === from && el.attrs.type === type;
const removeItem = (jid: string) => `<iq type='set'><query xmlns='jabber:iq:roster'><item jid='${jid}' subscription='remove'/></query></iq>`;
/** Rejects when `p` is still pending after `ms`: a roster lock that never comes free. */
const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms))]);

async function online(ts: TestServer, full: string): Promise<TestClient> {
  const c = await ts.login(full);
  await c.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
  await c.send('<presence/>');
  return c;
}

/** `a` subscribes to `b` and `b` approves; with `mutual`, the other way too. */
async function subscribe(a: TestClient, b: TestClient, mutual = false): Promise<void> {
  const [aBare, bBare] = [a.session.jid.bare, b.session.jid.bare];
  await a.send(`<presence to='${bBare}' type='subscribe'/>`);
  await b.send(`<presence to='${aBare}' type='subscribed'/>`);
  await a.waitFor(isPresence(b.session.jid.full));
  if (mutual) await subscribe(b, a);
}

describe('RFC 6121 subscriptions: edge cases', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, offline]);
    alice = await online(ts, 'alice@localhost/a');
    bob = await online(ts, 'bob@localhost/b');
  });
  afterEach(() => ts.stop());

  it('two contacts removing each other, or re-subscribing, at the same moment, and a self-subscription, leave every roster usable', async () => {
    await subscribe(alice, bob, true);
    await within(Promise.all([alice.send("<presence to='bob@localhost' type='subscribe'/>"), bob.send("<presence to='alice@localhost' type='subscribe'/>")]), 2000, 'both re-subscribing');
    await within(Promise.all([alice.iq(removeItem('bob@localhost')), bob.iq(removeItem('alice@localhost'))]), 2000, 'both removing');
    await alice.send("<presence to='alice@localhost' type='subscribe'/>");
    await alice.send("<presence to='alice@localhost' type='subscribed'/>");
    await within(alice.send("<presence to='alice@localhost' type='subscribe'/>"), 2000, 'self re-subscribe');
    await within(alice.iq(removeItem('alice@localhost')), 2000, 'removing oneself');
    for (const c of [alice, bob]) expect((await within(c.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"), 2000, 'roster get')).attrs.type).to.equal('result');
  });

  it('a pre-approval (§3.4) tells the contact nothing: no subscribed, no presence', async () => {
    await alice.iq("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>");
    await alice.send("<presence to='bob@localhost' type='subscribed'/>");
    await alice.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(bob.all((e) => e.name === 'presence' && e.attrs.from?.startsWith('alice@') === true)).to.deep.equal([]);
    // When Bob asks, the approval answers at once.
    await bob.send("<presence to='alice@localhost' type='subscribe'/>");
    await bob.waitFor(isPresence('alice@localhost', 'subscribed'));
    await bob.waitFor(isPresence('alice@localhost/a'));
  });

  it('a subscriber who is dropped, by unsubscribed, by unsubscribe or by removing the item, sees the user go offline (§3.2, §3.3)', async () => {
    await subscribe(alice, bob);
    alice.clear();
    await alice.send("<presence to='bob@localhost' type='unsubscribe'/>");
    await alice.waitFor(isPresence('bob@localhost/b', 'unavailable'));
    await subscribe(alice, bob);
    alice.clear();
    await bob.iq(removeItem('alice@localhost'));
    await alice.waitFor(isPresence('bob@localhost', 'unsubscribed'));
    await alice.waitFor(isPresence('bob@localhost/b', 'unavailable'));
  });

  it('a request to an address with no account is not kept for whoever registers it later, and is answered unsubscribed', async () => {
    await alice.iq("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='ghost@localhost'/></query></iq>");
    await alice.send("<presence to='ghost@localhost' type='subscribe'/>");
    await alice.waitFor((e) => e.name === 'iq' && e.getChild('query')?.getChild('item')?.attrs.ask === 'subscribe');
    await alice.waitFor((e) => e.name === 'iq' && e.getChild('query')?.getChild('item')?.attrs.jid === 'ghost@localhost' && e.getChild('query')?.getChild('item')?.attrs.ask === undefined);
    const ghost = await online(ts, 'ghost@localhost/g');
    await ghost.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(ghost.all(isPresence('alice@localhost', 'subscribe'))).to.deep.equal([]);
  });

  it('a probe from a stale subscriber is answered unsubscribed, which corrects its roster (§4.3.2, §3.2.3)', async () => {
    await subscribe(alice, bob);
    // Bob's side forgot Alice (say the unsubscribed was lost on the way): she still thinks she has 'to'.
    await ts.store.delete('roster', 'bob@localhost', 'alice@localhost');
    const alice2 = await online(ts, 'alice@localhost/a2'); // initial presence probes Bob
    await alice2.waitFor(isPresence('bob@localhost', 'unsubscribed'));
    await alice2.waitFor((e) => e.name === 'iq' && e.getChild('query')?.getChild('item')?.attrs.subscription === 'none');
    expect(alice2.all(isPresence('bob@localhost/b'))).to.deep.equal([]);
    // The same for a contact whose account is gone (§8.5.1 with §4.3.2).
    await ts.store.put('roster', 'alice@localhost', 'ghost@localhost', JSON.stringify({ jid: 'ghost@localhost', subscription: 'to', groups: [] }));
    const alice3 = await online(ts, 'alice@localhost/a3');
    await alice3.waitFor(isPresence('ghost@localhost', 'unsubscribed'));
    // Whoever has no subscription on its own side is not told: its server drops the unsubscribed (§3.2.3).
    const carol = await online(ts, 'carol@localhost/c');
    await ts.server.route(x('presence', { type: 'probe', from: 'carol@localhost', to: 'bob@localhost' }));
    await ts.server.route(x('presence', { type: 'probe', from: 'carol@localhost', to: 'ghost@localhost' }));
    await carol.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(carol.all((e) => e.name === 'presence' && e.attrs.type === 'unsubscribed')).to.deep.equal([]);
  });

  it('a repeated request while one is pending is not delivered again (Appendix A.2.1)', async () => {
    await alice.send("<presence to='bob@localhost' type='subscribe'/>");
    await alice.send("<presence to='bob@localhost' type='subscribe'/>");
    await alice.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(bob.all(isPresence('alice@localhost', 'subscribe'))).to.have.length(1);
  });

  it('a resource that raises its priority from negative gets what waited in offline storage', async () => {
    const carol = await ts.login('carol@localhost/c');
    await carol.send('<presence><priority>-1</priority></presence>');
    await alice.send("<message type='chat' to='carol@localhost'><body>while you were away</body></message>");
    await alice.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(carol.all((e) => e.getChildText('body') === 'while you were away')).to.deep.equal([]);
    await carol.send('<presence><priority>5</priority></presence>');
    await carol.waitFor((e) => e.getChildText('body') === 'while you were away');
  });

  it('tells a directed-presence recipient the user went unavailable, though it never broadcast presence (§4.6.3)', async () => {
    const carol = await ts.login('carol@localhost/c');
    await carol.send("<presence to='bob@localhost/b'/>");
    await bob.waitFor(isPresence('carol@localhost/c'));
    await carol.send("<presence type='unavailable'/>");
    await bob.waitFor(isPresence('carol@localhost/c', 'unavailable'));
  });
});

describe('RFC 6121 §3.1.3: a request from a contact already subscribed', () => {
  let ts: TestServer;
  afterEach(() => ts.stop());

  it('is answered subscribed by the server, with the user\'s presence, so the contact does not see the user offline', async () => {
    ts = await TestServer.start([roster, presence]);
    const alice = await online(ts, 'alice@localhost/a');
    const bob = await online(ts, 'bob@localhost/b');
    await subscribe(bob, alice);
    // Bob's side lost the subscription (a restored backup, a roster removed while Alice's server was away).
    await ts.store.put('roster', 'bob@localhost', 'alice@localhost', JSON.stringify({ jid: 'alice@localhost', subscription: 'none', groups: [] }));
    bob.clear();
    await bob.send("<presence to='alice@localhost' type='subscribe'/>");
    await bob.waitFor(isPresence('alice@localhost', 'subscribed'));
    await bob.waitFor(isPresence('alice@localhost/a'));
    expect(alice.all(isPresence('bob@localhost', 'subscribe')), 'not asked again').to.have.length(1);
  });
});

describe('RFC 6121 §3.1.2: a request that got no answer', () => {
  let ts: TestServer;
  afterEach(() => ts.stop());

  it('is sent again when the user comes online, so a request lost on the way is not waiting for ever; the contact is asked once', async () => {
    ts = await TestServer.start([roster, presence]);
    const alice = await online(ts, 'alice@localhost/a');
    const bob = await online(ts, 'bob@localhost/b');
    await alice.send("<presence to='bob@localhost' type='subscribe'/>");
    await bob.waitFor(isPresence('alice@localhost', 'subscribe'));
    // Bob's server lost it (restored from a backup; over federation, a link that went down).
    await ts.store.delete('roster_pending', 'bob@localhost', 'alice@localhost');
    bob.clear();
    await online(ts, 'alice@localhost/phone');
    await bob.waitFor(isPresence('alice@localhost', 'subscribe'));
    await online(ts, 'alice@localhost/tablet');
    await bob.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(bob.all(isPresence('alice@localhost', 'subscribe'))).to.have.length(1);
  });
});
