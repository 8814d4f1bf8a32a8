import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import roster from '../rfc6121-roster/index.js';
import { RosterStore } from '../rfc6121-roster/store.js';
import { Table } from '../../../storage/wide-column.js';
import { eventually } from '../../../testing/eventually.js';
import presence from './index.js';
import type { XmlElement } from '../../../util/xml.js';

const isPresence = (from: string, type?: string) => (el: XmlElement) => el.name === 'presence' && el.attrs.from === from && el.attrs.type === type;

async function online(ts: TestServer, full: string): Promise<TestClient> {
  const c = await ts.login(full);
  await c.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
  await c.send('<presence/>');
  return c;
}

describe('RFC 6121 roster and presence', () => {
  let ts: TestServer;
  beforeEach(async () => {
    ts = await TestServer.start([roster, presence]);
  });
  afterEach(() => ts.stop());

  it('two-way subscription: request, approval, roster pushes, presence seen both ways', async () => {
    const alice = await online(ts, 'alice@localhost/a');
    const bob = await online(ts, 'bob@localhost/b');

    await alice.iq("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'><group>Friends</group></item></query></iq>");
    const push = await alice.waitFor((e) => e.name === 'iq' && e.attrs.type === 'set' && !!e.getChild('query'));
    expect(push.getChild('query')!.getChild('item')!.attrs).to.include({ jid: 'bob@localhost', subscription: 'none', name: 'Bob' });

    await alice.send("<presence to='bob@localhost' type='subscribe'/>");
    const request = await bob.waitFor(isPresence('alice@localhost', 'subscribe'));
    expect(request.attrs.to).to.equal('bob@localhost');
    await alice.waitFor((e) => e.name === 'iq' && e.getChild('query')?.getChild('item')?.attrs.ask === 'subscribe');

    await bob.send("<presence to='alice@localhost' type='subscribed'/>");
    await alice.waitFor(isPresence('bob@localhost', 'subscribed'));
    await alice.waitFor(isPresence('bob@localhost/b'));
    await alice.waitFor((e) => e.name === 'iq' && e.getChild('query')?.getChild('item')?.attrs.subscription === 'to');
    await bob.waitFor((e) => e.name === 'iq' && e.getChild('query')?.getChild('item')?.attrs.subscription === 'from');

    // And the other way.
    await bob.send("<presence to='alice@localhost' type='subscribe'/>");
    await alice.waitFor(isPresence('bob@localhost', 'subscribe'));
    await alice.send("<presence to='bob@localhost' type='subscribed'/>");
    await bob.waitFor(isPresence('alice@localhost/a'));
    const r = await alice.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(r.getChild('query')!.getChild('item')!.attrs.subscription).to.equal('both');

    // Presence changes are seen by the contact; going offline sends unavailable.
    alice.clear();
    await bob.send('<presence><show>away</show></presence>');
    const away = await alice.waitFor(isPresence('bob@localhost/b'));
    expect(away.getChildText('show')).to.equal('away');
    await bob.session.finish(null, false);
    await alice.waitFor(isPresence('bob@localhost/b', 'unavailable'));
  });

  it('a subscription request to an offline user waits and is delivered at login', async () => {
    const alice = await online(ts, 'alice@localhost/a');
    await ts.addUser('carol@localhost');
    await alice.send("<presence to='carol@localhost' type='subscribe'/>");
    const carol = await online(ts, 'carol@localhost/c');
    await carol.waitFor(isPresence('alice@localhost', 'subscribe'));
  });

  it('roster versioning returns an empty result when the client is up to date', async () => {
    const alice = await ts.login('alice@localhost/a');
    await alice.iq("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='x@localhost'/></query></iq>");
    const full = await alice.iq("<iq type='get'><query xmlns='jabber:iq:roster' ver=''/></iq>");
    const ver = full.getChild('query')!.attrs.ver!;
    const again = await alice.iq(`<iq type='get'><query xmlns='jabber:iq:roster' ver='${ver}'/></iq>`);
    expect(again.attrs.type).to.equal('result');
    expect(again.getChild('query')).to.equal(undefined);
  });

  it('one user cannot read or change another user\'s roster', async () => {
    const alice = await ts.login('alice@localhost/a');
    await ts.login('bob@localhost/b');
    const r = await alice.iq("<iq type='get' to='bob@localhost'><query xmlns='jabber:iq:roster'/></iq>");
    expect(r.attrs.type).to.equal('error');
    expect(r.getChild('error')!.getChild('forbidden')).to.not.equal(undefined);
  });

  it('pre-approval: a request that arrives after approval is accepted at once', async () => {
    const alice = await online(ts, 'alice@localhost/a');
    const bob = await online(ts, 'bob@localhost/b');
    await bob.send("<presence to='alice@localhost' type='subscribed'/>");
    await alice.send("<presence to='bob@localhost' type='subscribe'/>");
    await alice.waitFor(isPresence('bob@localhost', 'subscribed'));
    expect(bob.all(isPresence('alice@localhost', 'subscribe'))).to.have.length(0);
  });

  it('removing a contact cancels the subscriptions both ways', async () => {
    const alice = await online(ts, 'alice@localhost/a');
    const bob = await online(ts, 'bob@localhost/b');
    await alice.send("<presence to='bob@localhost' type='subscribe'/>");
    await bob.send("<presence to='alice@localhost' type='subscribed'/>");
    await alice.waitFor(isPresence('bob@localhost/b'));
    await alice.iq("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='remove'/></query></iq>");
    await bob.waitFor((e) => e.name === 'iq' && e.getChild('query')?.getChild('item')?.attrs.subscription === 'none');
  });

  it('deleting an account cancels its subscriptions and requests, so a new account of the same name inherits none', async () => {
    const rosters = new RosterStore(new Table(ts.store, 'roster'), new Table(ts.store, 'roster_meta'), new Table(ts.store, 'roster_pending'));
    const alice = await online(ts, 'alice@localhost/a');
    const bob = await online(ts, 'bob@localhost/b');
    const carol = await online(ts, 'carol@localhost/c');
    const dave = await online(ts, 'dave@localhost/d');
    // Bob and Alice share presence both ways; Carol asked Alice and got no answer; Alice asked Dave, who has not answered.
    await alice.send("<presence to='bob@localhost' type='subscribe'/>");
    await bob.send("<presence to='alice@localhost' type='subscribed'/>");
    await bob.send("<presence to='alice@localhost' type='subscribe'/>");
    await alice.send("<presence to='bob@localhost' type='subscribed'/>");
    await bob.waitFor(isPresence('alice@localhost/a'));
    await carol.send("<presence to='alice@localhost' type='subscribe'/>");
    await alice.waitFor(isPresence('carol@localhost', 'subscribe'));
    await alice.send("<presence to='dave@localhost' type='subscribe'/>");
    await dave.waitFor(isPresence('alice@localhost', 'subscribe'));
    expect((await rosters.get('bob@localhost', 'alice@localhost'))?.subscription).to.equal('both');
    expect((await rosters.get('carol@localhost', 'alice@localhost'))?.ask).to.equal('subscribe');

    await ts.server.deleteAccount(alice.session.jid);

    // Each contact is told, and its roster keeps the item (its name and groups are the contact's) with nothing shared.
    await bob.waitFor(isPresence('alice@localhost', 'unsubscribed'));
    await bob.waitFor(isPresence('alice@localhost', 'unsubscribe'));
    await carol.waitFor(isPresence('alice@localhost', 'unsubscribed'));
    expect(await rosters.get('bob@localhost', 'alice@localhost')).to.deep.include({ subscription: 'none' });
    const carolsItem = await rosters.get('carol@localhost', 'alice@localhost');
    expect([carolsItem?.subscription, carolsItem?.ask]).to.deep.equal(['none', undefined]);
    // RFC 6121 §3.3.3: a request the contact never answered is just forgotten; a later login is not asked again.
    expect(await rosters.hasPending('dave@localhost', 'alice@localhost')).to.equal(false);
    expect(await rosters.all('alice@localhost')).to.deep.equal([]);

    // Someone else registers the name: Bob's presence does not reach them, nor theirs Bob.
    const newcomer = await online(ts, 'alice@localhost/new');
    bob.clear();
    await bob.send('<presence><show>away</show></presence>');
    await newcomer.send('<presence><show>dnd</show></presence>');
    await newcomer.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    await bob.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(newcomer.all(isPresence('bob@localhost/b'))).to.have.length(0);
    expect(bob.all(isPresence('alice@localhost/new'))).to.have.length(0);
    expect(newcomer.all(isPresence('dave@localhost', 'subscribe'))).to.have.length(0);
  });

  it('when the cluster reconnects, restored sessions broadcast again and probe their contacts once per account', async () => {
    const rosters = new RosterStore(new Table(ts.store, 'roster'), new Table(ts.store, 'roster_meta'), new Table(ts.store, 'roster_pending'));
    await rosters.put('alice@localhost', { jid: 'bob@localhost', subscription: 'both', groups: [] });
    await rosters.put('bob@localhost', { jid: 'alice@localhost', subscription: 'both', groups: [] });
    // Bob's account exists before Alice's login probes it (a probe to no account is answered unsubscribed).
    await ts.addUser('bob@localhost');
    const phone = await online(ts, 'alice@localhost/phone');
    await online(ts, 'alice@localhost/laptop');
    await online(ts, 'bob@localhost/b');
    await phone.waitFor(isPresence('bob@localhost/b'));
    const heardBefore = phone.received.filter(isPresence('bob@localhost/b')).length;

    const probes: string[] = [];
    const route = ts.server.route.bind(ts.server);
    ts.server.route = (stanza) => {
      if (stanza.name === 'presence' && stanza.attrs.type === 'probe') probes.push(`${stanza.attrs.from} -> ${stanza.attrs.to}`);
      return route(stanza);
    };
    await ts.server.emit('cluster/reconnected', { declaredDead: false });

    // A contact's own broadcast may have gone to JIDs its node could not route yet; the probe asks again.
    expect(probes.sort()).to.deep.equal(['alice@localhost -> bob@localhost', 'bob@localhost -> alice@localhost']);
    // Bob's broadcast and the answer to Alice's probe.
    await eventually(() => expect(phone.received.filter(isPresence('bob@localhost/b')).length).to.equal(heardBefore + 2));
  });
});

