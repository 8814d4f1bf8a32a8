import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import { Table } from '../../../storage/wide-column.js';
import { parseXml } from '../../stream/parse-xml.js';
import { ArchiveStore } from './archive.js';
import { countResults } from './count.js';
import mam, { NS_MAM } from './index.js';
import { parseQuery } from './query.js';

const NS_RSM = 'http://jabber.org/protocol/rsm';
let queryCounter = 0;

/** Runs a query; returns its result ids and the <set/> of its <fin/>. */
async function query(c: TestClient, fields: Record<string, string | string[]>, rsm: string): Promise<{ ids: string[]; set: XmlElement | undefined; complete: string | undefined }> {
  const qid = `c${queryCounter++}`;
  const values = Object.entries(fields)
    .map(([k, v]) => `<field var='${k}'>${(Array.isArray(v) ? v : [v]).map((x) => `<value>${x}</value>`).join('')}</field>`)
    .join('');
  const form = values === '' ? '' : `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS_MAM}</value></field>${values}</x>`;
  const iq = await c.iq(`<iq type='set'><query xmlns='${NS_MAM}' queryid='${qid}'>${form}<set xmlns='${NS_RSM}'>${rsm}</set></query></iq>`);
  expect(iq.attrs.type, iq.toString()).to.equal('result');
  const fin = iq.getChild('fin', NS_MAM);
  const ids = c.all((m) => m.name === 'message' && m.getChild('result', NS_MAM)?.attrs.queryid === qid).map((m) => m.getChild('result')!.attrs.id!);
  return { ids, set: fin?.getChild('set', NS_RSM), complete: fin?.attrs.complete };
}

describe('XEP-0313 with RSM max=0: the item count (XEP-0059 §2.7)', () => {
  let ts: TestServer;
  let alice: TestClient;
  afterEach(() => ts?.stop());

  /** Alice sends three messages to bob and one to carol. */
  async function start(options: Record<string, unknown> = {}): Promise<string[]> {
    ts = await TestServer.start([roster, presence, mam], { modules: { options: { mam: options } } });
    alice = await ts.login('alice@localhost/phone');
    for (const [to, body] of [['bob', 'b1'], ['bob', 'b2'], ['carol', 'c1'], ['bob', 'b3']]) {
      await alice.send(`<message type='chat' to='${to}@localhost'><body>${body}</body></message>`);
    }
    return (await query(alice, {}, '<max>10</max>')).ids;
  }

  it('answers max=0 with the count of the result set the form selects, and no results', async () => {
    const all = await start();
    expect(all).to.have.length(4);
    const r = await query(alice, {}, '<max>0</max>');
    expect(r.ids).to.have.length(0);
    expect(r.set?.getChildText('count')).to.equal('4');
    expect(r.complete).to.equal('false');
    expect((await query(alice, { with: 'bob@localhost' }, '<max>0</max>')).set?.getChildText('count')).to.equal('3');
    expect((await query(alice, { with: 'bob@localhost', 'after-id': all[0]! }, '<max>0</max>')).set?.getChildText('count')).to.equal('2');
    expect((await query(alice, { with: 'dave@localhost' }, '<max>0</max>')).set?.getChildText('count')).to.equal('0');
    // RSM after/before page through the set; the count stays the set's.
    expect((await query(alice, {}, `<max>0</max><after>${all[2]!}</after>`)).set?.getChildText('count')).to.equal('4');
    expect((await query(alice, { ids: [all[0]!, all[2]!, all[3]!], with: 'bob@localhost' }, '<max>0</max>')).set?.getChildText('count')).to.equal('2');
  });

  it('counts up to countLimit messages and leaves <count/> out beyond; ordinary pages never count', async () => {
    await start({ countLimit: 4 });
    expect((await query(alice, {}, '<max>0</max>')).set?.getChildText('count')).to.equal('4');
    await ts.stop();
    await start({ countLimit: 3 });
    const over = await query(alice, {}, '<max>0</max>');
    expect(over.set?.getChild('count')).to.equal(undefined);
    expect((await query(alice, { with: 'bob@localhost' }, '<max>0</max>')).set?.getChildText('count')).to.equal('3');
    expect((await query(alice, {}, '<max>2</max>')).set?.getChild('count')).to.equal(undefined);
  });

  it('counts past one read of rows: exact up to the limit, none beyond', async () => {
    ts = await TestServer.start([roster, presence, mam]);
    const archive = new ArchiveStore({ mam: new Table(ts.store, 'mam'), byWith: new Table(ts.store, 'mam_by_with'), withIndex: new Table(ts.store, 'mam_with_index'), prefs: new Table(ts.store, 'mam_prefs') }, 0);
    for (let i = 0; i < 600; i++) await archive.append('alice@localhost', { with: 'bob@localhost', peer: 'bob@localhost', dir: 'out', xml: `<message><body>${i}</body></message>` });
    const q = parseQuery(parseXml(`<query xmlns='${NS_MAM}'><set xmlns='${NS_RSM}'><max>0</max></set></query>`), { defaultPageSize: 50, maxPageSize: 250 });
    expect(await countResults(archive, 'alice@localhost', q, 1000, 250)).to.equal(600);
    expect(await countResults(archive, 'alice@localhost', q, 600, 250)).to.equal(600);
    expect(await countResults(archive, 'alice@localhost', q, 599, 250)).to.equal(undefined);
    expect(await countResults(archive, 'alice@localhost', q, 0, 250)).to.equal(undefined);
  });
});
