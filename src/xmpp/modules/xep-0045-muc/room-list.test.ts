import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_RSM } from '../../rsm.js';
import disco from '../xep-0030-disco/index.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import muc from './index.js';
import { ROOM_LIST } from './store.js';
import { configureRoom, createRoom, joinRoom } from './test-support.js';
import { RowCountingStore } from '../../../testing/row-counting-store.js';

const SERVICE = 'conference.localhost';
const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';

interface Page {
  rooms: string[];
  set: { first?: string; last?: string } | undefined;
}

async function discoItems(c: TestClient, rsm?: string): Promise<Page> {
  const r = await c.iq(`<iq type='get' to='${SERVICE}'><query xmlns='${NS_DISCO_ITEMS}'>${rsm === undefined ? '' : `<set xmlns='${NS_RSM}'>${rsm}</set>`}</query></iq>`);
  expect(r.attrs.type, r.toString()).to.equal('result');
  const query = r.getChild('query', NS_DISCO_ITEMS)!;
  const s: XmlElement | undefined = query.getChild('set', NS_RSM);
  return {
    rooms: query.getChildren('item').map((i) => i.attrs.jid!),
    set: s === undefined ? undefined : { first: s.getChildText('first') ?? undefined, last: s.getChildText('last') ?? undefined },
  };
}

const room = (i: number, suffix = ''): string => `r${String(i).padStart(3, '0')}${suffix}@${SERVICE}`;

describe('XEP-0045 service: the room list (disco#items, §6.3) in pages (XEP-0059)', () => {
  let ts: TestServer<RowCountingStore>;
  let alice: TestClient;
  let bob: TestClient;
  afterEach(() => ts.stop());

  /** A server with `count` persistent rooms in the store, those `hidden` picks not public, and alice and bob logged in. */
  async function startWith(count: number, hidden: (i: number) => boolean = () => false): Promise<void> {
    ts = await TestServer.start([roster, presence, disco, muc], {}, new RowCountingStore((table) => table === ROOM_LIST));
    for (let i = 0; i < count; i++) await ts.store.put(ROOM_LIST, SERVICE, room(i), JSON.stringify({ name: `Room ${i}`, public: !hidden(i) }));
    alice = await ts.login('alice@localhost/phone');
    bob = await ts.login('bob@localhost/laptop');
  }

  it('answers a request without <set/> with the first 100 rooms and a <set/> to page on from', async () => {
    await startWith(105);
    const first = await discoItems(bob);
    expect(first.rooms).to.deep.equal(Array.from({ length: 100 }, (_, i) => room(i)));
    expect(first.set).to.deep.equal({ first: room(0), last: room(99) });
    const rest = await discoItems(bob, `<after>${room(99)}</after>`);
    expect(rest).to.deep.equal({ rooms: [100, 101, 102, 103, 104].map((i) => room(i)), set: { first: room(100), last: room(104) } });
  });

  it('pages forward with max and after through stored rooms and rooms in memory, and back from the end with an empty <before/>', async () => {
    await startWith(4);
    // Temporary rooms, only in this node's memory, between and after the stored ones.
    await createRoom(alice, room(1, 'a'), 'Alice');
    await createRoom(alice, room(9), 'Alice');
    const all = [room(0), room(1), room(1, 'a'), room(2), room(3), room(9)];

    const whole = await discoItems(bob);
    expect(whole).to.deep.equal({ rooms: all, set: undefined }, 'a complete answer needs no <set/>');

    const seen: string[] = [];
    let after = '';
    for (let pages = 0; pages < 3; pages++) {
      const p = await discoItems(bob, `<max>2</max>${after}`);
      expect(p).to.deep.equal({ rooms: all.slice(pages * 2, pages * 2 + 2), set: { first: all[pages * 2], last: all[pages * 2 + 1] } });
      seen.push(...p.rooms);
      after = `<after>${p.set!.last!}</after>`;
    }
    expect(seen).to.deep.equal(all);
    expect(await discoItems(bob, `<max>2</max>${after}`)).to.deep.equal({ rooms: [], set: { first: undefined, last: undefined } });

    const lastPage = await discoItems(bob, '<max>4</max><before/>');
    expect(lastPage).to.deep.equal({ rooms: all.slice(2), set: { first: room(1, 'a'), last: room(9) } });
    const before = await discoItems(bob, `<max>4</max><before>${lastPage.set!.first!}</before>`);
    expect(before).to.deep.equal({ rooms: [room(0), room(1)], set: { first: room(0), last: room(1) } });
  });

  it('pages both ways through more stored rooms than one read takes, with rooms in memory between them', async () => {
    await startWith(40);
    for (const i of [0, 15, 16, 17, 39]) await createRoom(alice, room(i, 'm'), 'Alice');
    const all = [...Array.from({ length: 40 }, (_, i) => room(i)), ...[0, 15, 16, 17, 39].map((i) => room(i, 'm'))].sort();

    const forward: string[] = [];
    let after = '';
    for (let pages = 0; ; pages++) {
      expect(pages, 'paging ends').to.be.below(20);
      const p = await discoItems(bob, `<max>3</max>${after}`);
      if (p.rooms.length === 0) break;
      forward.push(...p.rooms);
      after = `<after>${p.set!.last!}</after>`;
    }
    expect(forward).to.deep.equal(all);

    const backward: string[] = [];
    let before = '<before/>';
    for (let pages = 0; ; pages++) {
      expect(pages, 'paging ends').to.be.below(20);
      const p = await discoItems(bob, `<max>3</max>${before}`);
      if (p.rooms.length === 0) break;
      backward.unshift(...p.rooms);
      before = `<before>${p.set!.first!}</before>`;
    }
    expect(backward).to.deep.equal(all);
  });

  it('never lists or names a hidden room, and the pages end', async () => {
    // Stored public rooms 0, 20 and 39 among hidden ones: runs of hidden rows longer than a read's batch.
    const open = new Set([0, 20, 39]);
    await startWith(40, (i) => !open.has(i));
    // In memory: a room made hidden, a room still being configured (locked, §10.1.1) and public ones past runs of hidden stored rooms.
    await createRoom(alice, room(5, 'hidden'), 'Alice');
    expect((await configureRoom(alice, room(5, 'hidden'), { 'muc#roomconfig_publicroom': '0' })).attrs.type).to.equal('result');
    await joinRoom(alice, room(6, 'locked'), 'Alice');
    await createRoom(alice, room(30, 'open'), 'Alice');
    await createRoom(alice, room(35, 'open'), 'Alice');

    const seen: string[] = [];
    let after = '';
    for (let pages = 0; ; pages++) {
      expect(pages, 'paging ends').to.be.below(10);
      const p = await discoItems(bob, `<max>1</max>${after}`);
      if (p.rooms.length === 0) {
        expect(p.set).to.deep.equal({ first: undefined, last: undefined });
        break;
      }
      expect(p.set).to.deep.equal({ first: p.rooms[0], last: p.rooms[0] });
      seen.push(...p.rooms);
      after = `<after>${p.set!.last!}</after>`;
    }
    expect(seen).to.deep.equal([room(0), room(20), room(30, 'open'), room(35, 'open'), room(39)]);
    expect((await discoItems(bob)).rooms).to.deep.equal(seen);
    expect((await discoItems(bob, '<max>2</max><before/>')).rooms).to.deep.equal([room(35, 'open'), room(39)]);
  });

  it('reads a page’s rows of the stored room list, not the whole list', async () => {
    await startWith(105);
    ts.store.rows = 0;
    const p = await discoItems(bob, '<max>3</max>');
    expect(p.rooms).to.deep.equal([0, 1, 2].map((i) => room(i)));
    expect(ts.store.rows).to.be.at.most(16);
  });

  it('refuses an RSM max that is not a number and an <index/> it does not offer', async () => {
    await startWith(1);
    const bad = await bob.iq(`<iq type='get' to='${SERVICE}'><query xmlns='${NS_DISCO_ITEMS}'><set xmlns='${NS_RSM}'><max>lots</max></set></query></iq>`);
    expect(bad.getChild('error')?.elements()[0]?.name).to.equal('bad-request');
    const index = await bob.iq(`<iq type='get' to='${SERVICE}'><query xmlns='${NS_DISCO_ITEMS}'><set xmlns='${NS_RSM}'><index>3</index></set></query></iq>`);
    expect(index.getChild('error')?.elements()[0]?.name).to.equal('feature-not-implemented');
  });
});
