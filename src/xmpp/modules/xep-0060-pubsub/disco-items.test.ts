import { expect } from 'chai';
import type { TestClient } from '../../../testing/harness.js';
import { RowCountingStore } from '../../../testing/row-counting-store.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_RSM } from '../../rsm.js';
import { NS_DISCO_ITEMS } from '../xep-0030-disco/api.js';
import { condition, nodeConfig, ok, SERVICE, set, start, withOptions, type Users } from './test-support.js';

interface Page {
  nodes: string[];
  set: { first?: string; last?: string } | undefined;
}

async function discoItems(c: TestClient, rsm?: string): Promise<Page> {
  const r = await ok(c, `<iq type='get' to='${SERVICE}'><query xmlns='${NS_DISCO_ITEMS}'>${rsm === undefined ? '' : `<set xmlns='${NS_RSM}'>${rsm}</set>`}</query></iq>`);
  const query = r.getChild('query', NS_DISCO_ITEMS)!;
  const s: XmlElement | undefined = query.getChild('set', NS_RSM);
  return {
    nodes: query.getChildren('item').map((i) => i.attrs.node!),
    set: s === undefined ? undefined : { first: s.getChildText('first') ?? undefined, last: s.getChildText('last') ?? undefined },
  };
}

const name = (i: number): string => `n${String(i).padStart(3, '0')}`;

describe('XEP-0060 pubsub service: disco#items on the service in pages (XEP-0030 §6, XEP-0059)', () => {
  let u: Users & { store: RowCountingStore };
  afterEach(() => u.ts.stop());

  async function startWith(nodes: number, whitelist: (i: number) => boolean = () => false): Promise<void> {
    const store = new RowCountingStore((table) => table === 'pubsub_nodes');
    u = { ...(await start(withOptions({ maxNodesPerCreator: 1000 }), store)), store };
    for (let i = 0; i < nodes; i++) {
      const configure = whitelist(i) ? `<configure>${nodeConfig({ 'pubsub#access_model': 'whitelist' })}</configure>` : '';
      await ok(u.alice, set(`<create node='${name(i)}'/>${configure}`));
    }
  }

  it('answers a request without <set/> with the first 100 nodes and a <set/> to page on from', async () => {
    await startWith(105);
    const first = await discoItems(u.bob);
    expect(first.nodes).to.deep.equal(Array.from({ length: 100 }, (_, i) => name(i)));
    expect(first.set).to.deep.equal({ first: name(0), last: name(99) });
    const rest = await discoItems(u.bob, `<after>${name(99)}</after>`);
    expect(rest.nodes).to.deep.equal([100, 101, 102, 103, 104].map(name));
    expect(rest.set).to.deep.equal({ first: name(100), last: name(104) });
  });

  it('pages with max and after to the last page, and back from the end with an empty <before/>', async () => {
    await startWith(5);
    const small = await discoItems(u.bob);
    expect(small.nodes).to.have.length(5);
    expect(small.set, 'a complete answer needs no <set/>').to.equal(undefined);

    const p1 = await discoItems(u.bob, '<max>2</max>');
    expect(p1).to.deep.equal({ nodes: [name(0), name(1)], set: { first: name(0), last: name(1) } });
    const p2 = await discoItems(u.bob, `<max>2</max><after>${p1.set!.last!}</after>`);
    expect(p2).to.deep.equal({ nodes: [name(2), name(3)], set: { first: name(2), last: name(3) } });
    const p3 = await discoItems(u.bob, `<max>2</max><after>${p2.set!.last!}</after>`);
    expect(p3).to.deep.equal({ nodes: [name(4)], set: { first: name(4), last: name(4) } });
    const end = await discoItems(u.bob, `<max>2</max><after>${p3.set!.last!}</after>`);
    expect(end).to.deep.equal({ nodes: [], set: { first: undefined, last: undefined } });

    const lastPage = await discoItems(u.bob, '<max>2</max><before/>');
    expect(lastPage).to.deep.equal({ nodes: [name(3), name(4)], set: { first: name(3), last: name(4) } });
    const before = await discoItems(u.bob, `<max>2</max><before>${lastPage.set!.first!}</before>`);
    expect(before.nodes).to.deep.equal([name(1), name(2)]);
  });

  it('skips whitelist nodes hidden from the requester, never naming one, and the pages end', async () => {
    // Open nodes 0, 7, 14 and 19 among hidden ones: runs of hidden rows longer than a read's batch.
    const open = new Set([0, 7, 14, 19]);
    await startWith(40, (i) => !open.has(i));
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; ; pages++) {
      expect(pages, 'paging ends').to.be.below(10);
      const p = await discoItems(u.bob, `<max>1</max>${after === undefined ? '' : `<after>${after}</after>`}`);
      if (p.nodes.length === 0) {
        expect(p.set).to.deep.equal({ first: undefined, last: undefined });
        break;
      }
      expect(p.set).to.deep.equal({ first: p.nodes[0], last: p.nodes[p.nodes.length - 1] });
      seen.push(...p.nodes);
      after = p.set!.last;
    }
    expect(seen).to.deep.equal([0, 7, 14, 19].map(name));
    // Their owner sees them all.
    expect((await discoItems(u.alice, '<max>100</max>')).nodes).to.have.length(40);
  });

  it('reads a page’s rows, not the whole service', async () => {
    await startWith(105);
    u.store.rows = 0;
    const p = await discoItems(u.bob, '<max>3</max>');
    expect(p.nodes).to.deep.equal([0, 1, 2].map(name));
    expect(u.store.rows).to.be.at.most(16);
  });

  it('refuses an RSM max that is not a number and an <index/> it does not offer', async () => {
    await startWith(1);
    const bad = await u.bob.iq(`<iq type='get' to='${SERVICE}'><query xmlns='${NS_DISCO_ITEMS}'><set xmlns='${NS_RSM}'><max>lots</max></set></query></iq>`);
    expect(condition(bad)).to.equal('bad-request');
    const index = await u.bob.iq(`<iq type='get' to='${SERVICE}'><query xmlns='${NS_DISCO_ITEMS}'><set xmlns='${NS_RSM}'><index>3</index></set></query></iq>`);
    expect(condition(index)).to.equal('feature-not-implemented');
  });
});
