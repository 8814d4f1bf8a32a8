import { expect } from 'chai';
import { RowTooLargeError, Table } from '../../../storage/wide-column.js';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { parseJid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import blocking from '../xep-0191-blocking/index.js';
import carbons from '../xep-0280-carbons/index.js';
import offline from '../xep-0160-offline/index.js';
import { ArchiveStore, byWithKey } from './archive.js';
import { NS_SID } from '../../stanza-id.js';
import mam, { NS_MAM } from './index.js';

const condition = (r: XmlElement) => r.getChild('error')?.elements()[0]?.name;
const isChat = (body: string) => (el: XmlElement) => el.name === 'message' && el.getChildText('body') === body;

interface QueryResult {
  iq: XmlElement;
  fin: XmlElement | undefined;
  results: XmlElement[];
  bodies: string[];
  ids: string[];
  first?: string;
  last?: string;
  complete?: string;
}

let queryCounter = 0;

/** Runs a MAM query and collects its result messages (they arrive before the iq result). */
async function query(c: TestClient, opts: { fields?: Record<string, string | string[]>; rsm?: string; flip?: boolean; to?: string } = {}): Promise<QueryResult> {
  const qid = `q${queryCounter++}`;
  const fields = Object.entries(opts.fields ?? {})
    .map(([k, v]) => `<field var='${k}'>${(Array.isArray(v) ? v : [v]).map((x) => `<value>${x}</value>`).join('')}</field>`)
    .join('');
  const form = fields ? `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS_MAM}</value></field>${fields}</x>` : '';
  const rsm = opts.rsm !== undefined ? `<set xmlns='http://jabber.org/protocol/rsm'>${opts.rsm}</set>` : '';
  const to = opts.to ? ` to='${opts.to}'` : '';
  const iq = await c.iq(`<iq type='set'${to}><query xmlns='${NS_MAM}' queryid='${qid}'>${form}${rsm}${opts.flip ? '<flip-page/>' : ''}</query></iq>`);
  const results = c.all((m) => m.name === 'message' && m.getChild('result', NS_MAM)?.attrs.queryid === qid);
  const fin = iq.getChild('fin', NS_MAM);
  const set = fin?.getChild('set', 'http://jabber.org/protocol/rsm');
  return {
    iq,
    fin,
    results,
    bodies: results.map((m) => m.getChild('result')!.getChild('forwarded')!.getChild('message')!.getChildText('body') ?? ''),
    ids: results.map((m) => m.getChild('result')!.attrs.id!),
    first: set?.getChildText('first'),
    last: set?.getChildText('last'),
    complete: fin?.attrs.complete,
  };
}

describe('XEP-0313 message archive management', () => {
  let ts: TestServer;
  /** The users' archive as the module stores it, read past the protocol. */
  const userArchive = (): ArchiveStore =>
    new ArchiveStore({ mam: new Table(ts.store, 'mam'), byWith: new Table(ts.store, 'mam_by_with'), withIndex: new Table(ts.store, 'mam_with_index'), prefs: new Table(ts.store, 'mam_prefs') }, 0);
  let alice: TestClient;
  let bob: TestClient;

  async function start(options: Record<string, unknown> = {}): Promise<void> {
    ts = await TestServer.start([roster, presence, mam], { modules: { options: { mam: options } } });
    alice = await ts.login('alice@localhost/phone');
    bob = await ts.login('bob@localhost/pc');
    await alice.send('<presence/>');
    await bob.send('<presence/>');
  }

  async function chat(from: TestClient, to: string, body: string, extra = ''): Promise<void> {
    await from.send(`<message type='chat' to='${to}' id='${body}'><body>${body}</body>${extra}</message>`);
  }

  afterEach(() => ts?.stop());

  describe('archiving', () => {
    beforeEach(() => start());

    it('archives a message in the sender and the recipient archive, each with its own id', async () => {
      await chat(alice, 'bob@localhost', 'hello');
      const got = await bob.waitFor(isChat('hello'));
      const a = await query(alice);
      const b = await query(bob);
      expect(a.bodies).to.deep.equal(['hello']);
      expect(b.bodies).to.deep.equal(['hello']);
      expect(a.ids[0]).to.not.equal(b.ids[0]);
      expect(a.complete).to.equal('true');
      // The delivered copy carries the recipient's archive id.
      const sids = got.getChildren('stanza-id', NS_SID);
      expect(sids.map((s) => s.attrs.by)).to.deep.equal(['bob@localhost']);
      expect(sids[0]!.attrs.id).to.equal(b.ids[0]);
      // The archived copy is the original stanza, with a delay stamp.
      const fwd = a.results[0]!.getChild('result')!.getChild('forwarded')!;
      expect(fwd.getChild('delay', 'urn:xmpp:delay')!.attrs.stamp).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(fwd.getChild('message')!.attrs).to.include({ from: 'alice@localhost/phone', to: 'bob@localhost', xmlns: 'jabber:client' });
      expect(a.results[0]!.attrs.to).to.equal('alice@localhost/phone');
    });

    it('takes a message back out of the recipient\'s archive when it is bounced: no session and no offline storage took it (§7.1)', async () => {
      await ts.addUser('dora@localhost');
      await chat(alice, 'dora@localhost', 'into the void');
      const bounced = await alice.waitFor((e) => e.name === 'message' && e.attrs.type === 'error');
      expect(bounced.attrs.id).to.equal('into the void');
      const dora = await ts.login('dora@localhost/new');
      expect((await query(dora)).bodies).to.deep.equal([]);
      expect(await ts.store.range('mam_by_with', byWithKey('dora@localhost', 'alice@localhost'))).to.deep.equal([]);
    });

    it("keeps the sender's archive id on its own copies only: not on what goes to another server (§3.5)", async () => {
      const leaving: XmlElement[] = [];
      ts.server.hooks.add('route/remote', ({ stanza }) => {
        leaving.push(stanza);
        return true;
      });
      await chat(alice, 'romeo@remote.example', 'far away');
      expect((await query(alice)).bodies).to.deep.equal(['far away']);
      const sent = leaving.find((s) => s.name === 'message');
      expect(sent?.getChildText('body')).to.equal('far away');
      expect(sent!.getChildren('stanza-id', NS_SID)).to.deep.equal([]);
    });

    it('archives a message to an offline resource once, through the bare-JID fallback', async () => {
      await chat(alice, 'bob@localhost/gone', 'to-gone');
      await bob.waitFor(isChat('to-gone'));
      expect((await query(bob)).bodies).to.deep.equal(['to-gone']);
    });

    it('strips a stanza-id the sender forged in our name and keeps origin-id', async () => {
      await chat(alice, 'bob@localhost', 'forged', `<stanza-id xmlns='${NS_SID}' by='bob@localhost' id='fake'/><stanza-id xmlns='${NS_SID}' by='localhost' id='fake2'/><stanza-id xmlns='${NS_SID}' by='room@elsewhere.example' id='theirs'/><origin-id xmlns='${NS_SID}' id='o-1'/>`);
      const got = await bob.waitFor(isChat('forged'));
      const sids = got.getChildren('stanza-id', NS_SID);
      expect(sids.map((s) => s.attrs.by)).to.deep.equal(['room@elsewhere.example', 'bob@localhost']);
      expect(sids[1]!.attrs.id).to.not.equal('fake');
      expect(got.getChild('origin-id', NS_SID)!.attrs.id).to.equal('o-1');
      const a = await query(alice);
      expect(a.results[0]!.toString()).to.not.contain("id='fake'").and.not.contain('id="fake"');
    });

    it('keeps encrypted payloads, markers, corrections and retractions; not chat states, hints or other types', async () => {
      const send = (inner: string, type = 'chat') => alice.send(`<message type='${type}' to='bob@localhost'>${inner}</message>`);
      await send(`<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'/><payload>x</payload></encrypted>`);
      await send(`<displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/>`);
      await send(`<received xmlns='urn:xmpp:chat-markers:0' id='m1'/>`);
      await send(`<body>fix</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/>`);
      await send(`<retract xmlns='urn:xmpp:message-retract:1' id='m1'/>`);
      await send(`<openpgp xmlns='urn:xmpp:openpgp:0'>AAA</openpgp>`);
      await send(`<composing xmlns='http://jabber.org/protocol/chatstates'/>`);
      await send(`<body>secret</body><no-store xmlns='urn:xmpp:hints'/>`);
      await send(`<body>ephemeral</body><no-permanent-store xmlns='urn:xmpp:hints'/>`);
      await send(`<body>news</body>`, 'headline');
      await send(`<body>room</body>`, 'groupchat');
      await send(`<active xmlns='http://jabber.org/protocol/chatstates'/><store xmlns='urn:xmpp:hints'/>`);
      for (const c of [alice, bob]) {
        const r = await query(c);
        const kinds = r.results.map((m) => m.getChild('result')!.getChild('forwarded')!.getChild('message')!.elements()[0]!.name);
        expect(kinds, c.jid).to.deep.equal(['encrypted', 'displayed', 'received', 'body', 'retract', 'openpgp', 'active']);
      }
    });

    it('keeps a direct MUC invitation (XEP-0249) without a body, so a device that catches up later is invited too', async () => {
      // Gajim sends them this way: the `<x/>` alone, type normal.
      await alice.send(`<message to='bob@localhost' id='inv-1'><x xmlns='jabber:x:conference' jid='room@conference.localhost' reason='talk'/></message>`);
      await bob.waitFor((m) => m.attrs.id === 'inv-1');
      for (const c of [alice, bob]) {
        const r = await query(c);
        expect(r.results.map((m) => m.getChild('result')!.getChild('forwarded')!.getChild('message')!.getChild('x', 'jabber:x:conference')?.attrs.jid), c.jid).to.deep.equal([
          'room@conference.localhost',
        ]);
      }
    });

    it('refuses the message with a wait error when the archive store is down, and delivers nothing', async () => {
      ts.store.failing = new Error('down');
      await chat(alice, 'bob@localhost', 'lost?');
      const err = await alice.waitFor((m) => m.name === 'message' && m.attrs.type === 'error');
      expect(err.getChild('error')!.attrs.type).to.equal('wait');
      expect(condition(err)).to.equal('internal-server-error');
      expect(err.attrs.id).to.equal('lost?');
      expect(bob.all(isChat('lost?'))).to.have.length(0);
      ts.store.failing = null;
      await chat(alice, 'bob@localhost', 'retried');
      await bob.waitFor(isChat('retried'));
      expect((await query(bob)).bodies).to.deep.equal(['retried']);
      expect((await query(alice)).bodies).to.deep.equal(['retried']);
    });

    it("refuses the message when the recipient's archive write fails after the sender's succeeded", async () => {
      let writes = 0;
      const batchPut = ts.store.batchPut.bind(ts.store);
      ts.store.batchPut = async (items) => {
        if (++writes === 2) throw new Error('down');
        return batchPut(items);
      };
      await chat(alice, 'bob@localhost', 'half');
      const err = await alice.waitFor((m) => m.name === 'message' && m.attrs.type === 'error');
      expect(condition(err)).to.equal('internal-server-error');
      expect(err.attrs.from).to.equal('bob@localhost');
      expect(bob.all(isChat('half'))).to.have.length(0);
    });

    it('refuses a message the store cannot hold with a modify error, so the client does not retry it', async () => {
      const batchPut = ts.store.batchPut.bind(ts.store);
      ts.store.batchPut = async (items) => {
        if (items.some((it) => it.value.includes('huge'))) throw new RowTooLargeError('row over the item limit');
        return batchPut(items);
      };
      await chat(alice, 'bob@localhost', 'huge');
      const err = await alice.waitFor((m) => m.name === 'message' && m.attrs.type === 'error');
      expect(err.getChild('error')!.attrs.type).to.equal('modify');
      expect(condition(err)).to.equal('not-acceptable');
      expect(bob.all(isChat('huge'))).to.have.length(0);
    });

    it('deletes the whole archive with the account, found through the contact index', async () => {
      await ts.login('carol@localhost/x');
      await chat(alice, 'bob@localhost', 'one');
      await chat(alice, 'carol@localhost', 'two');
      await chat(bob, 'alice@localhost', 'three');
      expect(await ts.store.range('mam', 'alice@localhost')).to.have.length(3);
      expect(await ts.store.range('mam_with_index', 'alice@localhost')).to.have.length(2);
      await ts.server.deleteAccount(parseJid('alice@localhost'));
      expect(await ts.store.range('mam', 'alice@localhost')).to.have.length(0);
      expect(await ts.store.range('mam_by_with', byWithKey('alice@localhost', 'bob@localhost'))).to.have.length(0);
      expect(await ts.store.range('mam_by_with', byWithKey('alice@localhost', 'carol@localhost'))).to.have.length(0);
      expect(await ts.store.range('mam_with_index', 'alice@localhost')).to.have.length(0);
      // Bob's archive is his own and stays.
      expect(await ts.store.range('mam', 'bob@localhost')).to.have.length(2);
    });

    it('does not archive messages for accounts that do not exist', async () => {
      await chat(alice, 'nobody@localhost', 'void');
      await alice.waitFor((m) => m.name === 'message' && m.attrs.type === 'error');
      expect(await ts.store.range('mam', 'nobody@localhost')).to.have.length(0);
    });
  });

  describe('queries', () => {
    const N = 30;
    beforeEach(async () => {
      await start({ maxPageSize: 100 });
      await ts.login('carol@localhost/x');
      for (let i = 0; i < N; i++) await chat(i % 2 ? bob : alice, i % 2 ? 'alice@localhost' : 'bob@localhost', `m${i}`);
      await chat(alice, 'carol@localhost', 'to-carol');
    });
    const all = [...Array.from({ length: N }, (_, i) => `m${i}`), 'to-carol'];

    it('pages forward with RSM after until complete', async () => {
      const seen: string[] = [];
      let after: string | undefined;
      for (let page = 0; ; page++) {
        const r = await query(alice, { rsm: `<max>10</max>${after ? `<after>${after}</after>` : ''}` });
        seen.push(...r.bodies);
        expect(r.first).to.equal(r.ids[0]);
        expect(r.last).to.equal(r.ids[r.ids.length - 1]);
        after = r.last;
        if (r.complete === 'true') break;
        expect(page).to.be.lessThan(5);
      }
      expect(seen).to.deep.equal(all);
    });

    it('pages backward from the last page (empty before) with RSM before', async () => {
      const pages: string[][] = [];
      let before = '';
      for (;;) {
        const r = await query(alice, { rsm: `<max>10</max><before>${before}</before>` });
        pages.unshift(r.bodies);
        before = r.first!;
        if (r.complete === 'true') break;
      }
      expect(pages[pages.length - 1]).to.deep.equal(all.slice(-10));
      expect(pages.flat()).to.deep.equal(all);
    });

    it('flips a page without changing which messages it holds', async () => {
      const plain = await query(alice, { rsm: '<max>5</max><before/>' });
      const flipped = await query(alice, { rsm: '<max>5</max><before/>', flip: true });
      expect(flipped.bodies).to.deep.equal([...plain.bodies].reverse());
      expect([flipped.first, flipped.last]).to.deep.equal([plain.first, plain.last]);
    });

    it('filters by contact with a range of the by-contact table', async () => {
      const r = await query(alice, { fields: { with: 'carol@localhost' } });
      expect(r.bodies).to.deep.equal(['to-carol']);
      const b = await query(alice, { fields: { with: 'bob@localhost' }, rsm: '<max>100</max>' });
      expect(b.bodies).to.deep.equal(all.slice(0, N));
      // The filter is served by the mam_by_with partition, not by filtering the whole archive.
      const rows = await ts.store.range('mam_by_with', byWithKey('alice@localhost', 'carol@localhost'));
      expect(rows.map((r) => r.sk)).to.deep.equal(r.ids);
      // A full JID only matches that resource.
      expect((await query(alice, { fields: { with: 'bob@localhost/pc' } })).bodies).to.deep.equal(all.slice(0, N).filter((_, i) => i % 2 === 1));
      expect((await query(alice, { fields: { with: 'bob@localhost/other' } })).bodies).to.deep.equal([]);
    });

    it('combines before-id and after-id, and fetches ids', async () => {
      const everything = await query(alice, { rsm: '<max>100</max>' });
      const id = (i: number) => everything.ids[i]!;
      const between = await query(alice, { fields: { 'after-id': id(3), 'before-id': id(8) } });
      expect(between.bodies).to.deep.equal(['m4', 'm5', 'm6', 'm7']);
      const picked = await query(alice, { fields: { ids: [id(9), id(2)] } });
      expect(picked.bodies).to.deep.equal(['m2', 'm9']);
      expect(picked.complete).to.equal('true');
      // RSM pages an ids query like any other (XEP-0059 §2.1), from either end.
      const three = [id(2), id(5), id(9)];
      const firstPage = await query(alice, { fields: { ids: three }, rsm: '<max>2</max>' });
      expect([firstPage.bodies, firstPage.complete]).to.deep.equal([['m2', 'm5'], 'false']);
      const lastPage = await query(alice, { fields: { ids: three }, rsm: '<max>1</max><before/>' });
      expect([lastPage.bodies, lastPage.complete]).to.deep.equal([['m9'], 'false']);
    });

    it('answers item-not-found for ids not in the archive, including ids of another archive', async () => {
      const bobs = await query(bob, { rsm: '<max>1</max>' });
      const queries: Parameters<typeof query>[1][] = [{ rsm: `<after>${bobs.ids[0]}</after>` }, { rsm: '<before>0000000000000000000</before>' }, { fields: { 'after-id': 'nope' } }, { fields: { ids: ['nope'] } }];
      for (const q of queries) {
        const r = await query(alice, q);
        expect(condition(r.iq), JSON.stringify(q)).to.equal('item-not-found');
        expect(r.results).to.have.length(0);
      }
    });

    it('uses the default page size without max', async () => {
      const d = await query(alice);
      expect(d.results).to.have.length(Math.min(50, all.length));
    });

    it('rejects unknown fields, bad dates and a wrong FORM_TYPE', async () => {
      expect(condition((await query(alice, { fields: { 'include-groupchat': 'true' } })).iq)).to.equal('feature-not-implemented');
      expect(condition((await query(alice, { fields: { start: 'yesterday' } })).iq)).to.equal('bad-request');
      const wrong = await alice.iq(`<iq type='set'><query xmlns='${NS_MAM}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x></query></iq>`);
      expect(condition(wrong)).to.equal('bad-request');
    });

    it("forbids querying someone else's archive", async () => {
      const r = await query(bob, { to: 'alice@localhost' });
      expect(r.iq.attrs.type).to.equal('error');
      expect(condition(r.iq)).to.equal('forbidden');
      expect(r.results).to.have.length(0);
      const md = await bob.iq(`<iq type='get' to='alice@localhost'><metadata xmlns='${NS_MAM}'/></iq>`);
      expect(condition(md)).to.equal('forbidden');
    });

    it('returns the query form and the archive metadata', async () => {
      const form = await alice.iq(`<iq type='get'><query xmlns='${NS_MAM}'/></iq>`);
      const vars = form.getChild('query')!.getChild('x', 'jabber:x:data')!.getChildren('field').map((f) => f.attrs.var);
      expect(vars).to.include.members(['FORM_TYPE', 'with', 'start', 'end', 'before-id', 'after-id', 'ids']);
      const everything = await query(alice, { rsm: '<max>100</max>' });
      const md = (await alice.iq(`<iq type='get'><metadata xmlns='${NS_MAM}'/></iq>`)).getChild('metadata', NS_MAM)!;
      expect(md.getChild('start')!.attrs.id).to.equal(everything.ids[0]);
      expect(md.getChild('end')!.attrs.id).to.equal(everything.ids[everything.ids.length - 1]);
      expect(md.getChild('end')!.attrs.timestamp).to.match(/Z$/);
      const empty = (await (await ts.login('dave@localhost/x')).iq(`<iq type='get'><metadata xmlns='${NS_MAM}'/></iq>`)).getChild('metadata', NS_MAM)!;
      expect(empty.elements()).to.have.length(0);
    });
  });

  it('answers a max over maxPageSize with a page of maxPageSize, marked incomplete, and the client pages on (§4.3.1)', async () => {
    await start({ maxPageSize: 5, defaultPageSize: 5 });
    for (let i = 0; i < 7; i++) await chat(alice, 'bob@localhost', `m${i}`);
    const first = await query(alice, { rsm: '<max>1000</max>' });
    expect([first.iq.attrs.type, first.bodies, first.complete]).to.deep.equal(['result', ['m0', 'm1', 'm2', 'm3', 'm4'], 'false']);
    const next = await query(alice, { rsm: `<max>1000</max><after>${first.last}</after>` });
    expect([next.bodies, next.complete]).to.deep.equal([['m5', 'm6'], 'true']);
    const last = await query(alice, { rsm: '<max>1000</max><before/>' });
    expect([last.bodies, last.complete]).to.deep.equal([['m2', 'm3', 'm4', 'm5', 'm6'], 'false']);
  });

  describe('time filters', () => {
    beforeEach(() => start());

    it('maps start and end to id bounds (inclusive, microsecond precision)', async () => {
      // Messages written at known times, through the module's own tables.
      const archive = userArchive();
      const days = ['2020-01-01', '2020-01-02', '2020-01-03', '2020-01-04'];
      for (const d of days) {
        await archive.append('alice@localhost', { with: 'bob@localhost', peer: 'bob@localhost', dir: 'out', xml: `<message xmlns='jabber:client' to='bob@localhost'><body>${d}</body></message>` }, Date.parse(`${d}T12:00:00Z`));
      }
      expect((await query(alice, { fields: { start: '2020-01-02T12:00:00Z' } })).bodies).to.deep.equal(days.slice(1));
      expect((await query(alice, { fields: { end: '2020-01-03T12:00:00Z' } })).bodies).to.deep.equal(days.slice(0, 3));
      expect((await query(alice, { fields: { start: '2020-01-02T00:00:00Z', end: '2020-01-03T11:59:59.999999Z' } })).bodies).to.deep.equal(['2020-01-02']);
      expect((await query(alice, { fields: { start: '2020-01-02T13:00:00+01:00', end: '2020-01-03T13:00:00+01:00', with: 'bob@localhost' } })).bodies).to.deep.equal(['2020-01-02', '2020-01-03']);
      const stamp = (await query(alice, { fields: { start: '2020-01-04T00:00:00Z' } })).results[0]!.getChild('result')!.getChild('forwarded')!.getChild('delay')!.attrs.stamp;
      expect(stamp).to.equal('2020-01-04T12:00:00.000Z');
    });

    it('reads a start or end in the far future as later than every message, not as a wrapped-around time', async () => {
      await chat(alice, 'bob@localhost', 'one');
      await chat(alice, 'bob@localhost', 'two');
      expect((await query(alice, { fields: { end: '9999-12-31T23:59:59Z' } })).bodies).to.deep.equal(['one', 'two']);
      expect((await query(alice, { fields: { start: '9999-01-01T00:00:00Z' } })).bodies).to.deep.equal([]);
    });
  });

  describe('stored rows', () => {
    beforeEach(() => start());

    it('still serves rows stored as JSON by earlier versions, in order with new ones, also by contact', async () => {
      const archive = userArchive();
      const legacyId = await archive.append('alice@localhost', { with: 'bob@localhost', peer: 'bob@localhost/phone', dir: 'in', xml: '' }, Date.parse('2021-03-04T05:06:07Z'));
      const xml = `<message xmlns="jabber:client" from="bob@localhost/phone" to="alice@localhost" type="chat"><body>old "quoted" row</body></message>`;
      const legacy = JSON.stringify({ with: 'bob@localhost', peer: 'bob@localhost/phone', dir: 'in', ts: Date.parse('2021-03-04T05:06:07Z'), xml });
      await ts.store.put('mam', 'alice@localhost', legacyId, legacy);
      await ts.store.put('mam_by_with', byWithKey('alice@localhost', 'bob@localhost'), legacyId, legacy);
      await chat(alice, 'bob@localhost', 'new row');
      const filters: Record<string, string>[] = [{}, { with: 'bob@localhost' }, { with: 'bob@localhost/phone' }];
      for (const fields of filters) {
        const page = await query(alice, { fields });
        expect(page.bodies, JSON.stringify(fields)).to.deep.equal(fields.with === 'bob@localhost/phone' ? ['old "quoted" row'] : ['old "quoted" row', 'new row']);
        expect(page.results[0]!.getChild('result')!.getChild('forwarded')!.getChild('delay')!.attrs.stamp).to.equal('2021-03-04T05:06:07.000Z');
      }
    });

    it('keeps the contact, full JID, direction and time of each message', async () => {
      await chat(alice, 'bob@localhost', 'out');
      await chat(bob, 'alice@localhost', 'in');
      const archive = userArchive();
      const { items } = await archive.page('alice@localhost', { max: 10, reverse: false });
      expect(items.map((m) => [m.with, m.peer, m.dir])).to.deep.equal([
        ['bob@localhost', 'bob@localhost', 'out'],
        ['bob@localhost', bob.jid, 'in'],
      ]);
      for (const m of items) expect(Math.abs(m.ts - Date.now())).to.be.below(60_000);
      expect(items[1]!.xml).to.contain('<body>in</body>');
    });
  });

  describe('preferences', () => {
    it('never and always lists decide per contact, never wins', async () => {
      await start();
      await ts.login('carol@localhost/x');
      const set = await alice.iq(`<iq type='set'><prefs xmlns='${NS_MAM}' default='always'><always><jid>carol@localhost</jid></always><never><jid>bob@localhost</jid><jid>carol@localhost</jid></never></prefs></iq>`);
      expect(set.getChild('prefs')!.attrs.default).to.equal('always');
      const got = await alice.iq(`<iq type='get'><prefs xmlns='${NS_MAM}'/></iq>`);
      expect(got.getChild('prefs')!.getChild('never')!.getChildren('jid').map((j) => j.getText())).to.deep.equal(['bob@localhost', 'carol@localhost']);
      expect(got.getChild('prefs')!.getChild('always')!.getChildren('jid')).to.have.length(0);
      await chat(alice, 'bob@localhost', 'not-kept');
      await chat(bob, 'alice@localhost', 'not-kept-either');
      await ts.login('dave@localhost/x');
      await chat(alice, 'dave@localhost', 'kept');
      expect((await query(alice)).bodies).to.deep.equal(['kept']);
      // Bob's own preferences are his: he keeps both.
      expect((await query(bob)).bodies).to.deep.equal(['not-kept', 'not-kept-either']);
    });

    it("default 'roster' archives contacts in the roster only; 'never' nothing but the always list", async () => {
      await start();
      await ts.login('carol@localhost/x');
      await alice.iq(`<iq type='set'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>`);
      await alice.iq(`<iq type='set'><prefs xmlns='${NS_MAM}' default='roster'/></iq>`);
      await chat(alice, 'bob@localhost', 'friend');
      await chat(alice, 'carol@localhost', 'stranger');
      expect((await query(alice)).bodies).to.deep.equal(['friend']);
      await alice.iq(`<iq type='set'><prefs xmlns='${NS_MAM}' default='never'><always><jid>carol@localhost</jid></always></prefs></iq>`);
      await chat(alice, 'bob@localhost', 'friend-2');
      await chat(alice, 'carol@localhost', 'stranger-2');
      expect((await query(alice)).bodies).to.deep.equal(['friend', 'stranger-2']);
      const bad = await alice.iq(`<iq type='set'><prefs xmlns='${NS_MAM}' default='sometimes'/></iq>`);
      expect(condition(bad)).to.equal('bad-request');
    });

    it('uses the configured defaultPolicy for users without preferences', async () => {
      await start({ defaultPolicy: 'never' });
      await chat(alice, 'bob@localhost', 'x');
      await bob.waitFor(isChat('x'));
      expect((await query(alice)).results).to.have.length(0);
      expect((await alice.iq(`<iq type='get'><prefs xmlns='${NS_MAM}'/></iq>`)).getChild('prefs')!.attrs.default).to.equal('never');
    });
  });

  describe('retention', () => {
    it('gives archive rows a TTL of retentionDays (and the contact index one day more)', async () => {
      await start({ retentionDays: 2 });
      await chat(alice, 'bob@localhost', 'short-lived');
      const now = Date.now() / 1000;
      const [row] = await ts.store.range('mam', 'alice@localhost');
      expect(row!.expiresAt).to.be.within(now + 2 * 86400 - 5, now + 2 * 86400 + 5);
      const [byWith] = await ts.store.range('mam_by_with', byWithKey('alice@localhost', 'bob@localhost'));
      expect(byWith!.expiresAt).to.equal(row!.expiresAt);
      const [idx] = await ts.store.range('mam_with_index', 'alice@localhost');
      expect(idx!.expiresAt).to.be.within(now + 3 * 86400 - 5, now + 3 * 86400 + 5);
    });

    it('applies a per-domain retention over the default', async () => {
      // With offline storage: a message nobody could take would be bounced, and leave the archive.
      ts = await TestServer.start([roster, offline, mam], { server: { hosts: ['localhost', 'short.example'] }, modules: { options: { mam: { retentionDays: 10, retentionDaysByDomain: { 'short.example': 1 } } } } });
      const carol = await ts.login('carol@short.example/phone');
      alice = await ts.login('alice@localhost/phone');
      await chat(carol, 'alice@localhost', 'cross-domain');
      const now = Date.now() / 1000;
      const [carolRow] = await ts.store.range('mam', 'carol@short.example');
      const [aliceRow] = await ts.store.range('mam', 'alice@localhost');
      expect(carolRow!.expiresAt).to.be.within(now + 86400 - 5, now + 86400 + 5);
      expect(aliceRow!.expiresAt).to.be.within(now + 10 * 86400 - 5, now + 10 * 86400 + 5);
    });

    it('keeps rows forever with retentionDays 0', async () => {
      await start();
      await chat(alice, 'bob@localhost', 'forever');
      const [row] = await ts.store.range('mam', 'alice@localhost');
      expect(row!.expiresAt).to.equal(undefined);
    });
  });

  it("keeps messages refused by blocking out of the recipient's archive, and gives carbons the stanza-ids", async () => {
    ts = await TestServer.start([roster, presence, blocking, carbons, mam]);
    alice = await ts.login('alice@localhost/phone');
    const alice2 = await ts.login('alice@localhost/laptop');
    bob = await ts.login('bob@localhost/pc');
    const bob2 = await ts.login('bob@localhost/tablet');
    for (const c of [alice, alice2, bob, bob2]) await c.send('<presence/>');
    for (const c of [alice2, bob2]) await c.iq(`<iq type='set'><enable xmlns='urn:xmpp:carbons:2'/></iq>`);
    await chat(alice, 'bob@localhost/pc', 'carbon');
    await bob.waitFor(isChat('carbon'));
    const a = await query(alice);
    const b = await query(bob);
    const isCarbon = (kind: string) => (m: XmlElement) => m.getChild(kind, 'urn:xmpp:carbons:2') !== undefined;
    const sent = (await alice2.waitFor(isCarbon('sent'))).getChild('sent')!.getChild('forwarded')!.getChild('message')!;
    expect(sent.getChildren('stanza-id', NS_SID).map((s) => [s.attrs.by, s.attrs.id])).to.deep.equal([['alice@localhost', a.ids[0]]]);
    const rcvd = (await bob2.waitFor(isCarbon('received'))).getChild('received')!.getChild('forwarded')!.getChild('message')!;
    expect(rcvd.getChildren('stanza-id', NS_SID).map((s) => [s.attrs.by, s.attrs.id])).to.deep.equal([['bob@localhost', b.ids[0]]]);

    expect((await bob.iq(`<iq type='set'><block xmlns='urn:xmpp:blocking'><item jid='alice@localhost'/></block></iq>`)).attrs.type).to.equal('result');
    await chat(alice, 'bob@localhost', 'blocked');
    await alice.waitFor((m) => m.name === 'message' && m.attrs.type === 'error');
    expect((await query(bob)).bodies).to.deep.equal(['carbon']);
    // The sender's archive records what its owner sent, as Prosody's and ejabberd's do.
    expect((await query(alice)).bodies).to.deep.equal(['carbon', 'blocked']);
  });

  it('advertises urn:xmpp:mam:2, #extended and stanza ids on the account', async () => {
    await start();
    const features = ts.server.accountFeatures();
    expect(features).to.include.members([NS_MAM, `${NS_MAM}#extended`, NS_SID]);
  });
});
