import { expect } from 'chai';
import { parseJid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import { eachTest } from '../../../testing/each-test.js';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import components from '../xep-0114-components/index.js';
import { freePort } from '../../../testing/services/child-process.js';
import disco, { NS_DISCO_INFO, NS_DISCO_ITEMS } from '../xep-0030-disco/index.js';
import { NS_PUBSUB, NS_PUBSUB_ERRORS, NS_PUBSUB_EVENT, NS_PUBSUB_OWNER } from '../xep-0163-pep/protocol.js';
import pubsub from './index.js';

const SERVICE = 'pubsub.localhost';
const condition = (r: XmlElement) => r.getChild('error')?.elements()[0]?.name;
const appCondition = (r: XmlElement) => r.getChild('error')?.elements().find((e) => e.attrs.xmlns === NS_PUBSUB_ERRORS);
const set = (body: string, ns = NS_PUBSUB) => `<iq type='set' to='${SERVICE}'><pubsub xmlns='${ns}'>${body}</pubsub></iq>`;
const get = (body: string, ns = NS_PUBSUB) => `<iq type='get' to='${SERVICE}'><pubsub xmlns='${ns}'>${body}</pubsub></iq>`;
const form = (ns: string, fields: Record<string, string>) =>
  `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${ns}</value></field>${Object.entries(fields)
    .map(([k, v]) => `<field var='${k}'><value>${v}</value></field>`)
    .join('')}</x>`;
const nodeConfig = (fields: Record<string, string>) => form(`${NS_PUBSUB}#node_config`, fields);
const entry = (text: string) => `<entry xmlns='urn:test'>${text}</entry>`;
const publishItem = (node: string, text: string, id?: string) => set(`<publish node='${node}'><item${id === undefined ? '' : ` id='${id}'`}>${entry(text)}</item></publish>`);
const itemsOf = (r: XmlElement) => r.getChild('pubsub', NS_PUBSUB)!.getChild('items')!.getChildren('item').map((i) => [i.attrs.id, i.getChildText('entry')]);
const isEvent = (node: string) => (e: XmlElement) => e.name === 'message' && e.attrs.from === SERVICE && e.getChild('event', NS_PUBSUB_EVENT)?.elements()[0]?.attrs.node === node;

interface Users {
  ts: TestServer;
  alice: TestClient;
  bob: TestClient;
  carol: TestClient;
}

async function start(overrides: Record<string, unknown> = {}, store?: TestServer['store']): Promise<Users> {
  const ts = await TestServer.start([roster, presence, disco, pubsub], overrides, store);
  const users = { ts, alice: await ts.login('alice@localhost/a'), bob: await ts.login('bob@localhost/b'), carol: await ts.login('carol@localhost/c') };
  // Online, so that notifications to their bare JIDs reach them.
  for (const c of [users.alice, users.bob, users.carol]) await c.send('<presence/>');
  return users;
}

async function ok(client: TestClient, stanza: string): Promise<XmlElement> {
  const r = await client.iq(stanza);
  expect(r.attrs.type, r.toString()).to.equal('result');
  return r;
}

describe('XEP-0060 pubsub service', () => {
  const u = eachTest(() => start(), ({ ts }) => ts.stop());

  it('is an item of the domain, a pubsub/service with what it supports, listing the nodes a requester may see', async () => {
    const items = (await ok(u.alice, `<iq type='get' to='localhost'><query xmlns='${NS_DISCO_ITEMS}'/></iq>`)).getChild('query')!.getChildren('item');
    expect(items.map((i) => i.attrs.jid)).to.include(SERVICE);
    const info = (await ok(u.alice, `<iq type='get' to='${SERVICE}'><query xmlns='${NS_DISCO_INFO}'/></iq>`)).getChild('query')!;
    expect(info.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`)).to.deep.equal(['pubsub/service']);
    const features = info.getChildren('feature').map((f) => f.attrs.var);
    expect(features).to.include.members([NS_PUBSUB, `${NS_PUBSUB}#create-nodes`, `${NS_PUBSUB}#delete-nodes`, `${NS_PUBSUB}#purge-nodes`, `${NS_PUBSUB}#publish`, `${NS_PUBSUB}#access-whitelist`]);
    expect(features).not.to.include.members([`${NS_PUBSUB}#access-presence`]);
    expect(features).not.to.include(`${NS_PUBSUB}#auto-create`);

    await ok(u.alice, set(`<create node='open-feed'/>`));
    await ok(u.alice, set(`<create node='secret'/><configure>${nodeConfig({ 'pubsub#access_model': 'whitelist', 'pubsub#title': 'Secret' })}</configure>`));
    const listed = async (c: TestClient) => (await ok(c, `<iq type='get' to='${SERVICE}'><query xmlns='${NS_DISCO_ITEMS}'/></iq>`)).getChild('query')!.getChildren('item').map((i) => i.attrs.node).sort();
    expect(await listed(u.alice)).to.deep.equal(['open-feed', 'secret']);
    expect(await listed(u.bob)).to.deep.equal(['open-feed']);

    const leaf = (await ok(u.bob, `<iq type='get' to='${SERVICE}'><query xmlns='${NS_DISCO_INFO}' node='open-feed'/></iq>`)).getChild('query')!;
    expect(leaf.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`)).to.deep.equal(['pubsub/leaf']);
    const hidden = await u.bob.iq(`<iq type='get' to='${SERVICE}'><query xmlns='${NS_DISCO_INFO}' node='secret'/></iq>`);
    expect(condition(hidden)).to.equal('item-not-found');
  });

  it('creates instant nodes, refuses a name taken, and lets only local users create (by default)', async () => {
    const instant = await ok(u.alice, set(`<create/>`));
    const name = instant.getChild('pubsub', NS_PUBSUB)!.getChild('create')!.attrs.node;
    expect(name).to.be.a('string').and.not.equal('');
    const again = await u.bob.iq(set(`<create node='${name!}'/>`));
    expect(condition(again)).to.equal('conflict');
    const presence = await u.alice.iq(set(`<create node='p'/><configure>${nodeConfig({ 'pubsub#access_model': 'presence' })}</configure>`));
    expect([condition(presence), appCondition(presence)?.name, appCondition(presence)?.attrs.feature]).to.deep.equal(['feature-not-implemented', 'unsupported', 'access-presence']);
  });

  it('publishes to subscribers with payloads, keeps max_items, and retrieves all, the newest n, or by id', async () => {
    await ok(u.alice, set(`<create node='news'/><configure>${nodeConfig({ 'pubsub#max_items': '3' })}</configure>`));
    const sub = await ok(u.bob, set(`<subscribe node='news' jid='bob@localhost'/>`));
    expect(sub.getChild('pubsub')!.getChild('subscription')!.attrs.subscription).to.equal('subscribed');
    const published = await ok(u.alice, set(`<publish node='news'><item>${entry('one')}</item></publish>`));
    const generated = published.getChild('pubsub')!.getChild('publish')!.getChild('item')!.attrs.id;
    expect(generated).to.be.a('string').and.not.equal('');
    const ev = await u.bob.waitFor(isEvent('news'));
    const item = ev.getChild('event', NS_PUBSUB_EVENT)!.getChild('items')!.getChild('item')!;
    expect([item.attrs.id, item.getChildText('entry')]).to.deep.equal([generated, 'one']);
    for (const n of ['2', '3', '4']) await ok(u.alice, publishItem('news', n, `i${n}`));
    expect(itemsOf(await ok(u.carol, get(`<items node='news'/>`)))).to.deep.equal([['i2', '2'], ['i3', '3'], ['i4', '4']]);
    expect(itemsOf(await ok(u.carol, get(`<items node='news' max_items='1'/>`)))).to.deep.equal([['i4', '4']]);
    expect(itemsOf(await ok(u.carol, get(`<items node='news'><item id='i2'/><item id='i4'/></items>`)))).to.deep.equal([['i2', '2'], ['i4', '4']]);
  });

  it('refuses to publish for anyone but owners and publishers, and takes a publisher the owner names', async () => {
    await ok(u.alice, set(`<create node='n'/>`));
    expect(condition(await u.bob.iq(publishItem('n', 'x')))).to.equal('forbidden');
    await ok(u.alice, set(`<affiliations node='n'><affiliation jid='bob@localhost' affiliation='publisher'/></affiliations>`, NS_PUBSUB_OWNER));
    await ok(u.bob, publishItem('n', 'x'));
    const affs = (await ok(u.alice, get(`<affiliations node='n'/>`, NS_PUBSUB_OWNER))).getChild('pubsub')!.getChild('affiliations')!.getChildren('affiliation');
    expect(affs.map((a) => [a.attrs.jid, a.attrs.affiliation])).to.deep.equal([['alice@localhost', 'owner'], ['bob@localhost', 'publisher']]);
    const mine = (await ok(u.bob, get(`<affiliations/>`))).getChild('pubsub')!.getChild('affiliations')!.getChildren('affiliation');
    expect(mine.map((a) => [a.attrs.node, a.attrs.affiliation])).to.deep.equal([['n', 'publisher']]);
    // Bob is no owner: the node's configuration and affiliations are not his to change.
    expect(condition(await u.bob.iq(get(`<configure node='n'/>`, NS_PUBSUB_OWNER)))).to.equal('forbidden');
    // The last owner stays.
    expect(condition(await u.alice.iq(set(`<affiliations node='n'><affiliation jid='alice@localhost' affiliation='none'/></affiliations>`, NS_PUBSUB_OWNER)))).to.equal('not-acceptable');
  });

  it('checks publish-options as preconditions (precondition-not-met)', async () => {
    await ok(u.alice, set(`<create node='n'/>`));
    const wrong = await u.alice.iq(set(`<publish node='n'><item>${entry('x')}</item></publish><publish-options>${form(`${NS_PUBSUB}#publish-options`, { 'pubsub#access_model': 'whitelist' })}</publish-options>`));
    expect([condition(wrong), appCondition(wrong)?.name]).to.deep.equal(['conflict', 'precondition-not-met']);
    await ok(u.alice, set(`<publish node='n'><item>${entry('x')}</item></publish><publish-options>${form(`${NS_PUBSUB}#publish-options`, { 'pubsub#access_model': 'open' })}</publish-options>`));
  });

  it('publishes to a notification-only transient node without an item, and refuses one with an item (§7.1.3.6)', async () => {
    await ok(u.alice, set(`<create node='t'/><configure>${nodeConfig({ 'pubsub#deliver_payloads': '0', 'pubsub#persist_items': '0' })}</configure>`));
    await ok(u.bob, set(`<subscribe node='t' jid='bob@localhost/b'/>`));
    await ok(u.alice, set(`<publish node='t'/>`));
    const ev = await u.bob.waitFor(isEvent('t'));
    expect(ev.getChild('event', NS_PUBSUB_EVENT)!.getChild('items')!.elements()).to.have.length(0);
    const withItem = await u.alice.iq(publishItem('t', 'x', 'id1'));
    expect([withItem.getChild('error')?.attrs.type, condition(withItem), appCondition(withItem)?.name]).to.deep.equal(['modify', 'bad-request', 'item-forbidden']);
    expect(itemsOf(await ok(u.alice, get(`<items node='t'/>`)))).to.deep.equal([]);
  });

  it('retracts, purges and deletes, telling subscribers', async () => {
    await ok(u.alice, set(`<create node='n'/>`));
    await ok(u.bob, set(`<subscribe node='n' jid='bob@localhost'/>`));
    await ok(u.alice, publishItem('n', 'a', 'a'));
    await ok(u.alice, publishItem('n', 'b', 'b'));
    u.bob.clear();
    await ok(u.alice, set(`<retract node='n' notify='true'><item id='a'/></retract>`));
    const retracted = await u.bob.waitFor(isEvent('n'));
    expect(retracted.getChild('event', NS_PUBSUB_EVENT)!.getChild('items')!.getChild('retract')!.attrs.id).to.equal('a');
    expect(condition(await u.alice.iq(set(`<retract node='n'><item id='a'/></retract>`)))).to.equal('item-not-found');
    u.bob.clear();
    await ok(u.alice, set(`<purge node='n'/>`, NS_PUBSUB_OWNER));
    expect((await u.bob.waitFor(isEvent('n'))).getChild('event', NS_PUBSUB_EVENT)!.getChild('purge')).to.not.equal(undefined);
    expect(itemsOf(await ok(u.alice, get(`<items node='n'/>`)))).to.deep.equal([]);
    u.bob.clear();
    await ok(u.alice, set(`<delete node='n'/>`, NS_PUBSUB_OWNER));
    expect((await u.bob.waitFor(isEvent('n'))).getChild('event', NS_PUBSUB_EVENT)!.getChild('delete')).to.not.equal(undefined);
    expect(condition(await u.alice.iq(get(`<items node='n'/>`)))).to.equal('item-not-found');
  });

  it('subscribes only the sender’s own JID, lists subscriptions, and unsubscribes', async () => {
    await ok(u.alice, set(`<create node='n'/>`));
    const other = await u.bob.iq(set(`<subscribe node='n' jid='carol@localhost'/>`));
    expect([condition(other), appCondition(other)?.name]).to.deep.equal(['bad-request', 'invalid-jid']);
    await ok(u.bob, set(`<subscribe node='n' jid='bob@localhost'/>`));
    const mine = (await ok(u.bob, get(`<subscriptions/>`))).getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription');
    expect(mine.map((s) => [s.attrs.node, s.attrs.jid, s.attrs.subscription])).to.deep.equal([['n', 'bob@localhost', 'subscribed']]);
    const owners = (await ok(u.alice, get(`<subscriptions node='n'/>`, NS_PUBSUB_OWNER))).getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription');
    expect(owners.map((s) => s.attrs.jid)).to.deep.equal(['bob@localhost']);
    expect(condition(await u.carol.iq(set(`<unsubscribe node='n' jid='bob@localhost'/>`)))).to.equal('forbidden');
    await ok(u.bob, set(`<unsubscribe node='n' jid='bob@localhost'/>`));
    u.bob.clear();
    await ok(u.alice, publishItem('n', 'x'));
    await ok(u.alice, get(`<items node='n'/>`));
    expect(u.bob.all(isEvent('n'))).to.have.length(0);
  });

  it('ends the subscriptions of a deleted account', async () => {
    await ok(u.alice, set(`<create node='n'/>`));
    await ok(u.bob, set(`<subscribe node='n' jid='bob@localhost/b'/>`));
    await ok(u.carol, set(`<subscribe node='n' jid='carol@localhost'/>`));
    await u.ts.server.deleteAccount(parseJid('bob@localhost'));
    const subs = (await ok(u.alice, get(`<subscriptions node='n'/>`, NS_PUBSUB_OWNER))).getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription');
    expect(subs.map((s) => s.attrs.jid)).to.deep.equal(['carol@localhost']);
  });

  it('keeps a whitelist node to its owner and members, and an outcast out of an open node', async () => {
    await ok(u.alice, set(`<create node='w'/><configure>${nodeConfig({ 'pubsub#access_model': 'whitelist' })}</configure>`));
    const closed = await u.bob.iq(set(`<subscribe node='w' jid='bob@localhost'/>`));
    expect([condition(closed), appCondition(closed)?.name]).to.deep.equal(['not-allowed', 'closed-node']);
    expect(condition(await u.bob.iq(get(`<items node='w'/>`)))).to.equal('not-allowed');
    await ok(u.alice, set(`<affiliations node='w'><affiliation jid='bob@localhost' affiliation='member'/></affiliations>`, NS_PUBSUB_OWNER));
    await ok(u.bob, set(`<subscribe node='w' jid='bob@localhost'/>`));
    await ok(u.alice, set(`<create node='o'/>`));
    await ok(u.alice, set(`<affiliations node='o'><affiliation jid='carol@localhost' affiliation='outcast'/></affiliations>`, NS_PUBSUB_OWNER));
    expect(condition(await u.carol.iq(get(`<items node='o'/>`)))).to.equal('forbidden');
  });

  it('configures a node with its form, and answers the default form', async () => {
    await ok(u.alice, set(`<create node='n'/>`));
    const fields = (r: XmlElement, el: string) => new Map(r.getChild('pubsub', NS_PUBSUB_OWNER)!.getChild(el)!.getChild('x')!.getChildren('field').map((f) => [f.attrs.var, f.getChildText('value')]));
    const defaults = fields(await ok(u.alice, get(`<default/>`, NS_PUBSUB_OWNER)), 'default');
    expect([defaults.get('pubsub#access_model'), defaults.get('pubsub#max_items'), defaults.has('pubsub#roster_groups_allowed')]).to.deep.equal(['open', '10', false]);
    await ok(u.alice, set(`<configure node='n'>${nodeConfig({ 'pubsub#max_items': '2', 'pubsub#title': 'Two' })}</configure>`, NS_PUBSUB_OWNER));
    const now = fields(await ok(u.alice, get(`<configure node='n'/>`, NS_PUBSUB_OWNER)), 'configure');
    expect([now.get('pubsub#max_items'), now.get('pubsub#title')]).to.deep.equal(['2', 'Two']);
    const bad = await u.alice.iq(set(`<configure node='n'>${nodeConfig({ 'pubsub#access_model': 'roster' })}</configure>`, NS_PUBSUB_OWNER));
    expect(condition(bad)).to.equal('feature-not-implemented');
  });
});

describe('XEP-0060 pubsub service beside a component at pubsub.<domain>', () => {
  it('leaves the domain to the component that an operator configured there', async () => {
    const port = await freePort();
    const ts = await TestServer.start([roster, disco, components, pubsub], { modules: { options: { components: { port, secrets: { [SERVICE]: 'secret' } } } } });
    try {
      const alice = await ts.login('alice@localhost/a');
      const info = await alice.iq(`<iq type='get' to='${SERVICE}'><query xmlns='${NS_DISCO_INFO}'/></iq>`);
      // The component is not connected: its domain bounces requests, and no pubsub service answers for it.
      expect([info.attrs.type, condition(info)]).to.deep.equal(['error', 'service-unavailable']);
      const items = (await ok(alice, `<iq type='get' to='localhost'><query xmlns='${NS_DISCO_ITEMS}'/></iq>`)).getChild('query')!.getChildren('item');
      expect(items.filter((i) => i.attrs.jid === SERVICE).map((i) => i.attrs.name)).to.deep.equal([undefined]);
    } finally {
      await ts.stop();
    }
  });
});

describe('XEP-0060 pubsub service: storage', () => {
  it('keeps nodes, configuration, items, subscriptions and affiliations across a restart', async () => {
    const first = await start();
    await ok(first.alice, set(`<create node='n'/><configure>${nodeConfig({ 'pubsub#max_items': '5', 'pubsub#access_model': 'whitelist' })}</configure>`));
    await ok(first.alice, set(`<affiliations node='n'><affiliation jid='bob@localhost' affiliation='member'/></affiliations>`, NS_PUBSUB_OWNER));
    await ok(first.bob, set(`<subscribe node='n' jid='bob@localhost'/>`));
    await ok(first.alice, publishItem('n', 'kept', 'k'));
    await first.ts.stop();

    const again = await start({}, first.ts.store);
    try {
      expect(itemsOf(await ok(again.bob, get(`<items node='n'/>`)))).to.deep.equal([['k', 'kept']]);
      expect(condition(await again.carol.iq(get(`<items node='n'/>`)))).to.equal('not-allowed');
      await ok(again.alice, publishItem('n', 'new', 'n2'));
      const ev = await again.bob.waitFor(isEvent('n'));
      expect(ev.getChild('event', NS_PUBSUB_EVENT)!.getChild('items')!.getChild('item')!.attrs.id).to.equal('n2');
    } finally {
      await again.ts.stop();
    }
  });
});
