import { expect } from 'chai';
import { eventually } from '../../../testing/eventually.js';
import { inProcessClusterSuite, type ClusterTestNode } from '../../../testing/in-process-cluster.js';
import { flushRedis } from '../../../testing/services/redis.js';
import { Table } from '../../../storage/wide-column.js';
import type { XmlElement } from '../../../util/xml.js';
import { DIRECTED_PRESENCE } from '../../session.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import { RosterStore } from '../rfc6121-roster/store.js';
import disco from '../xep-0030-disco/index.js';
import muc from '../xep-0045-muc/index.js';
import { createRoom, joinRoom } from '../xep-0045-muc/test-support.js';
import sm, { NS_SM } from './index.js';

const isSm = (name: string) => (el: XmlElement) => el.name === name && el.attrs.xmlns === NS_SM;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isPresence = (from: string, type?: string) => (el: XmlElement): boolean => el.name === 'presence' && el.attrs.from === from && el.attrs.type === type;

describe('XEP-0198 resumption in a cluster (in-process nodes on standalone Redis)', function () {
  this.timeout(30_000);
  const { cluster, deployment } = inProcessClusterSuite();

  it('the node that handed a session over does not write its entry back when Redis comes back empty', async () => {
    const a = await cluster.start('a', [roster, presence, sm]);
    const b = await cluster.start('b', [roster, presence, sm]);
    const bob = await a.ts.login('bob@localhost/b');
    await bob.send('<presence/>');
    await bob.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const id = (await bob.waitFor(isSm('enabled'))).attrs.id!;
    await bob.drop();
    const again = await b.ts.authenticated('bob@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    await again.waitFor(isSm('resumed'));
    await eventually(() => expect(a.cluster.sessions.ownedEntries()).to.deep.equal([]));

    // Redis comes back empty, and node A notices first: it writes back what it still holds.
    await b.cluster.sessions.liveness.stop(false);
    await flushRedis(deployment().ports);
    await sleep(600);
    b.cluster.sessions.liveness.startTimers();
    await eventually(async () => expect((await a.cluster.sessions.get('bob@localhost/b'))?.node).to.equal('b'));
    await sleep(300);
    expect(again.closedWith).to.equal(undefined);
    expect(b.ts.server.sessions.get('bob@localhost/b')?.open).to.equal(true);
  });

  const ROOM = 'tea@conference.localhost';

  /**
   * carol's room runs on node A; alice, on A, joins it and sends directed presence to dave (on A too), in that order
   * unless `daveFirst`, then resumes her session on B (started with `bOptions`), everything acknowledged: nothing is
   * left queued to bounce to the room when the session ends, which the room would take for her being gone (status
   * 333) whether or not she said so.
   */
  async function aliceResumedOnB(bOptions: Record<string, unknown> = {}, daveFirst = false) {
    const modules = [roster, disco, presence, muc, sm];
    const [a, b] = [await cluster.start('a', modules), await cluster.start('b', modules, bOptions)];
    const carol = await a.ts.login('carol@localhost/c');
    await createRoom(carol, ROOM, 'carol');
    const dave = await a.ts.login('dave@localhost/d');
    const alice = await a.ts.login('alice@localhost/a');
    await alice.send('<presence/>');
    await alice.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const id = (await alice.waitFor(isSm('enabled'))).attrs.id!;
    const toDave = async (): Promise<void> => {
      await alice.send(`<presence to='${dave.jid}'><show>chat</show></presence>`);
      await dave.waitFor(isPresence('alice@localhost/a'));
    };
    if (daveFirst) await toDave();
    expect((await joinRoom(alice, ROOM, 'alice')).attrs.type).to.equal(undefined);
    if (!daveFirst) await toDave();
    const enabled = alice.received.findIndex(isSm('enabled'));
    const h = alice.received.slice(enabled).filter((e) => ['message', 'presence', 'iq'].includes(e.name)).length;
    await alice.drop();

    const again = await b.ts.authenticated('alice@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='${h}'/>`);
    await again.waitFor(isSm('resumed'));
    // Nothing re-sent; what B's lower presence.maxDirected makes it say may follow (tests below).
    expect(again.received.filter((e) => e.name !== 'resumed' && e.attrs.type !== 'error' && e.attrs.type !== 'unavailable')).to.deep.equal([]);
    return { a, b, carol, dave, again };
  }

  // RFC 6121 §4.6.3: whoever the session sent directed presence to (a MUC room among them) must hear it go
  // unavailable, however many nodes it went through; the room would otherwise keep a ghost holding the nick.
  it('a session resumed on another node tells its room and a stranger it sent presence to that it is gone', async () => {
    const { a, b, carol, dave, again } = await aliceResumedOnB();
    const directed = [`${ROOM}/alice`, 'dave@localhost/d'];
    expect([...(b.ts.server.sessions.get('alice@localhost/a')?.get(DIRECTED_PRESENCE) ?? [])]).to.deep.equal(directed);
    // Should node B die, the node cleaning up after it reads them from there.
    await eventually(async () => expect((await a.cluster.sessions.get('alice@localhost/a'))?.directed).to.deep.equal(directed));

    again.close();
    await carol.waitFor(isPresence(`${ROOM}/alice`, 'unavailable'), 5000);
    await dave.waitFor(isPresence('alice@localhost/a', 'unavailable'), 5000);
    // Gone from the room, not a ghost: her nick is free for someone else.
    const erin = await a.ts.login('erin@localhost/e');
    expect((await joinRoom(erin, ROOM, 'alice')).attrs.type).to.equal(undefined);
  });

  // What the node a session was resumed on knows of its targets is what it says when it comes back after being
  // declared dead (rfc6121-presence/directed.ts, leaveLostRooms): the room, and the last presence dave had.
  it('a session resumed on another node that is then declared dead and comes back is told it left its room, and the stranger sees it again', async () => {
    const { b, dave, again } = await aliceResumedOnB();
    await b.cluster.sessions.liveness.stop(false);
    await dave.waitFor(isPresence('alice@localhost/a', 'unavailable'), 10_000);
    dave.clear();
    b.cluster.sessions.liveness.startTimers();
    const left = await again.waitFor(isPresence(`${ROOM}/alice`, 'unavailable'), 10_000);
    expect(left.getChild('x', 'http://jabber.org/protocol/muc#user')?.getChildren('status').map((c) => c.attrs.code)).to.deep.equal(['110', '333']);
    expect((await dave.waitFor(isPresence('alice@localhost/a'), 10_000)).getChildText('show')).to.equal('chat');
  });

  // B keeps fewer targets per session than A (presence.maxDirected): the cap's rule, newest refused first, decides
  // which go, and those are told she is gone, as they would never be otherwise.
  const directedOnB = (b: ClusterTestNode): string[] => [...(b.ts.server.sessions.get('alice@localhost/a')?.get(DIRECTED_PRESENCE) ?? [])];

  it('a node with a lower presence.maxDirected drops the stranger sent presence last, who hears her go, and keeps the room', async () => {
    const { a, b, carol, dave, again } = await aliceResumedOnB({ presence: { maxDirected: 1 } });
    await dave.waitFor(isPresence('alice@localhost/a', 'unavailable'), 5000);
    const refused = await again.waitFor((e) => e.name === 'presence' && e.attrs.from === 'dave@localhost/d', 5000);
    expect(refused.attrs.type).to.equal('error');
    expect(refused.getChild('error')?.elements()[0]?.name).to.equal('policy-violation');
    expect(directedOnB(b)).to.deep.equal([`${ROOM}/alice`]);
    await eventually(async () => expect((await a.cluster.sessions.get('alice@localhost/a'))?.directed).to.deep.equal([`${ROOM}/alice`]));

    again.close();
    await carol.waitFor(isPresence(`${ROOM}/alice`, 'unavailable'), 5000);
    await dave.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(dave.all(isPresence('alice@localhost/a', 'unavailable'))).to.have.length(1);
  });

  it('a node with a lower presence.maxDirected drops the room joined last: she is out of it and her nick is free', async () => {
    const { a, b, carol, dave, again } = await aliceResumedOnB({ presence: { maxDirected: 1 } }, true);
    const left = await again.waitFor(isPresence(`${ROOM}/alice`, 'unavailable'), 5000);
    expect(left.getChild('x', 'http://jabber.org/protocol/muc#user')?.getChildren('status').map((c) => c.attrs.code)).to.include('110');
    await carol.waitFor(isPresence(`${ROOM}/alice`, 'unavailable'), 5000);
    expect(directedOnB(b)).to.deep.equal(['dave@localhost/d']);
    const erin = await a.ts.login('erin@localhost/e');
    expect((await joinRoom(erin, ROOM, 'alice')).attrs.type).to.equal(undefined);

    again.close();
    await dave.waitFor(isPresence('alice@localhost/a', 'unavailable'), 5000);
  });

  // bob, a subscriber, was sent presence before alice's initial presence, which he has heard since: the broadcast
  // tells him of her, and an unavailable from her would show her offline while she is not.
  it('a node with a lower presence.maxDirected drops a subscriber the broadcast reaches without telling him she is gone', async () => {
    const modules = [roster, presence, sm];
    const [a, b] = [await cluster.start('a', modules), await cluster.start('b', modules, { presence: { maxDirected: 1 } })];
    const rosters = new RosterStore(new Table(cluster.store, 'roster'), new Table(cluster.store, 'roster_meta'), new Table(cluster.store, 'roster_pending'));
    await rosters.put('alice@localhost', { jid: 'bob@localhost', subscription: 'from', groups: [] });
    await rosters.put('bob@localhost', { jid: 'alice@localhost', subscription: 'to', groups: [] });
    const [bob, dave] = [await a.ts.login('bob@localhost/b'), await a.ts.login('dave@localhost/d')];
    await bob.send('<presence/>');
    const alice = await a.ts.login('alice@localhost/a');
    await alice.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const id = (await alice.waitFor(isSm('enabled'))).attrs.id!;
    await alice.send(`<presence to='${dave.jid}'/>`);
    await alice.send(`<presence to='${bob.jid}'/>`);
    await alice.send('<presence/>');
    await bob.waitFor((e) => isPresence('alice@localhost/a')(e) && e.attrs.to === bob.jid);
    await alice.waitFor(isPresence('alice@localhost/a'));
    const h = alice.received.slice(alice.received.findIndex(isSm('enabled'))).filter((e) => ['message', 'presence', 'iq'].includes(e.name)).length;
    await alice.drop();

    const again = await b.ts.authenticated('alice@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='${h}'/>`);
    await again.waitFor(isSm('resumed'));
    expect(directedOnB(b)).to.deep.equal(['dave@localhost/d']);
    // Sent after the resumption's work, and through the same inbox of node A as an unavailable would be.
    await again.send(`<message to='${bob.jid}' id='after'><body>still here</body></message>`);
    await bob.waitFor((e) => e.name === 'message' && e.attrs.id === 'after', 5000);
    expect(bob.all(isPresence('alice@localhost/a', 'unavailable'))).to.deep.equal([]);
    expect(again.all((e) => e.attrs.type === 'error')).to.deep.equal([]);
    expect(dave.all(isPresence('alice@localhost/a', 'unavailable'))).to.deep.equal([]);
  });

  // A nick change (XEP-0045 §7.6) the room has not answered when the session moves leaves two of the room's nicks
  // among the targets; the room is still one of presence.maxDirected's addresses, on B as on A.
  it('a node with a lower presence.maxDirected counts a room once while a nick change awaits its answer', async () => {
    const modules = [roster, disco, presence, muc, sm];
    const [a, b] = [await cluster.start('a', modules), await cluster.start('b', modules, { presence: { maxDirected: 2 } })];
    const carol = await a.ts.login('carol@localhost/c');
    await createRoom(carol, ROOM, 'carol');
    const dave = await a.ts.login('dave@localhost/d');
    const alice = await a.ts.login('alice@localhost/a');
    await alice.send('<presence/>');
    await alice.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const id = (await alice.waitFor(isSm('enabled'))).attrs.id!;
    expect((await joinRoom(alice, ROOM, 'alice')).attrs.type).to.equal(undefined);
    await alice.send(`<presence to='${dave.jid}'/>`);
    await dave.waitFor(isPresence('alice@localhost/a'));
    // The room's answer to her waits (it is on its way while she moves).
    const held: Array<() => Promise<void>> = [];
    const route = a.ts.server.route.bind(a.ts.server);
    a.ts.server.route = (stanza, origin) => {
      if (stanza.name !== 'presence' || !stanza.attrs.from?.startsWith(`${ROOM}/`) || stanza.attrs.to !== 'alice@localhost/a') return route(stanza, origin);
      held.push(() => route(stanza, origin));
      return Promise.resolve();
    };
    await alice.send(`<presence to='${ROOM}/alicia'/>`);
    await carol.waitFor(isPresence(`${ROOM}/alicia`), 5000);
    const h = alice.received.slice(alice.received.findIndex(isSm('enabled'))).filter((e) => ['message', 'presence', 'iq'].includes(e.name)).length;
    await alice.drop();

    const again = await b.ts.authenticated('alice@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='${h}'/>`);
    await again.waitFor(isSm('resumed'));
    expect(directedOnB(b)).to.deep.equal([`${ROOM}/alice`, 'dave@localhost/d', `${ROOM}/alicia`]);
    expect(again.all((e) => e.attrs.type === 'error')).to.deep.equal([]);

    // The answer arrives: only the new nick is left, and she leaves the room once, from it.
    for (const deliver of held) await deliver();
    await again.waitFor(isPresence(`${ROOM}/alicia`), 5000);
    await eventually(() => expect(directedOnB(b)).to.deep.equal(['dave@localhost/d', `${ROOM}/alicia`]));
    again.close();
    await carol.waitFor(isPresence(`${ROOM}/alicia`, 'unavailable'), 5000);
    await dave.waitFor(isPresence('alice@localhost/a', 'unavailable'), 5000);
    await dave.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(dave.all(isPresence('alice@localhost/a', 'unavailable'))).to.have.length(1);
    expect(carol.all((e) => e.name === 'presence' && e.attrs.type === 'unavailable' && e.attrs.from?.startsWith(`${ROOM}/alic`) === true).map((e) => e.attrs.from)).to.deep.equal([`${ROOM}/alice`, `${ROOM}/alicia`]);
  });
});
