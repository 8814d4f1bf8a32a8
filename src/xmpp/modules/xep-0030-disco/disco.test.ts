import { expect } from 'chai';
import { TestServer } from '../../../testing/harness.js';
import { x } from '../../../util/xml.js';
import { defineModule } from '../../module.js';
import roster from '../rfc6121-roster/index.js';
import disco, { NS_DISCO_INFO, NS_DISCO_ITEMS, type DiscoApi } from './index.js';

/** A module that lists itself the way upload or MUC would. */
const service = defineModule({
  name: 'test-service',
  implements: 'test',
  depends: ['disco'],
  start(ctx) {
    ctx.feature('urn:test:host-only');
    ctx.feature('urn:test:account-only', 'account');
    ctx.infoExtension(x('x', { xmlns: 'jabber:x:data', type: 'result' }, x('field', { var: 'FORM_TYPE', type: 'hidden' }, x('value', null, 'http://jabber.org/network/serverinfo'))));
    const d = ctx.use<DiscoApi>('disco');
    ctx.onStop(d.addItem({ jid: 'upload.localhost', name: 'Uploads' }));
    ctx.onStop(d.addInfoNode((node) => (node === 'urn:test:node' ? { identities: [{ category: 'automation', type: 'command-list' }], features: [], extensions: [] } : null)));
  },
});

describe('XEP-0030 disco', () => {
  let ts: TestServer;
  beforeEach(async () => {
    ts = await TestServer.start([roster, disco, service]);
  });
  afterEach(() => ts.stop());

  it('answers disco#info for the server with its identity, every host feature and extensions', async () => {
    const alice = await ts.login('alice@localhost/phone');
    const r = await alice.iq(`<iq type='get' to='localhost'><query xmlns='${NS_DISCO_INFO}'/></iq>`);
    expect(r.attrs.type).to.equal('result');
    const q = r.getChild('query', NS_DISCO_INFO)!;
    const ids = q.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`);
    expect(ids).to.deep.equal(['server/im']);
    const features = q.getChildren('feature').map((f) => f.attrs.var);
    expect(features).to.include.members([NS_DISCO_INFO, NS_DISCO_ITEMS, 'urn:test:host-only']);
    expect(features).not.to.include('urn:test:account-only');
    expect(q.getChild('x', 'jabber:x:data')).to.not.equal(undefined);
  });

  it('answers registered nodes and item-not-found for unknown ones', async () => {
    const alice = await ts.login('alice@localhost/phone');
    const ok = await alice.iq(`<iq type='get' to='localhost'><query xmlns='${NS_DISCO_INFO}' node='urn:test:node'/></iq>`);
    expect(ok.getChild('query')!.attrs.node).to.equal('urn:test:node');
    expect(ok.getChild('query')!.getChild('identity')!.attrs.category).to.equal('automation');
    const bad = await alice.iq(`<iq type='get' to='localhost'><query xmlns='${NS_DISCO_INFO}' node='nope'/></iq>`);
    expect(bad.attrs.type).to.equal('error');
    expect(bad.getChild('error')!.getChild('item-not-found')).to.not.equal(undefined);
    const badItems = await alice.iq(`<iq type='get' to='localhost'><query xmlns='${NS_DISCO_ITEMS}' node='nope'/></iq>`);
    expect(badItems.getChild('error')!.getChild('item-not-found')).to.not.equal(undefined);
  });

  it('lists services added through the API in the server disco#items', async () => {
    const alice = await ts.login('alice@localhost/phone');
    const r = await alice.iq(`<iq type='get' to='localhost'><query xmlns='${NS_DISCO_ITEMS}'/></iq>`);
    const items = r.getChild('query')!.getChildren('item');
    expect(items.map((i) => [i.attrs.jid, i.attrs.name])).to.deep.equal([['upload.localhost', 'Uploads']]);
  });

  it('answers for the own account with account/registered and account features', async () => {
    const alice = await ts.login('alice@localhost/phone');
    const r = await alice.iq(`<iq type='get'><query xmlns='${NS_DISCO_INFO}'/></iq>`);
    const q = r.getChild('query')!;
    expect(q.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`)).to.deep.equal(['account/registered']);
    const features = q.getChildren('feature').map((f) => f.attrs.var);
    expect(features).to.include('urn:test:account-only');
    expect(features).not.to.include('urn:test:host-only');
  });

  it('refuses to disclose an account to a requester without a presence subscription', async () => {
    await ts.addUser('alice@localhost');
    const bob = await ts.login('bob@localhost/pc');
    const r = await bob.iq(`<iq type='get' to='alice@localhost'><query xmlns='${NS_DISCO_INFO}'/></iq>`);
    expect(r.attrs.type).to.equal('error');
    expect(r.getChild('error')!.getChild('service-unavailable')).to.not.equal(undefined);
    const items = await bob.iq(`<iq type='get' to='alice@localhost'><query xmlns='${NS_DISCO_ITEMS}'/></iq>`);
    expect(items.getChild('error')!.getChild('service-unavailable')).to.not.equal(undefined);
  });

  it('answers a contact the account shares presence with', async () => {
    await ts.addUser('alice@localhost');
    await ts.store.put('roster', 'alice@localhost', 'bob@localhost', JSON.stringify({ jid: 'bob@localhost', subscription: 'from', groups: [] }));
    const bob = await ts.login('bob@localhost/pc');
    const r = await bob.iq(`<iq type='get' to='alice@localhost'><query xmlns='${NS_DISCO_INFO}'/></iq>`);
    expect(r.attrs.type).to.equal('result');
    expect(r.attrs.from).to.equal('alice@localhost');
    expect(r.getChild('query')!.getChild('identity')!.attrs.type).to.equal('registered');
  });

  it('answers service-unavailable for accounts that do not exist', async () => {
    const bob = await ts.login('bob@localhost/pc');
    const r = await bob.iq(`<iq type='get' to='ghost@localhost'><query xmlns='${NS_DISCO_INFO}'/></iq>`);
    expect(r.getChild('error')!.getChild('service-unavailable')).to.not.equal(undefined);
  });

  it("does not reveal through a node whether an account exists to one who may not see it (§8): the same answer as for no account", async () => {
    await ts.addUser('alice@localhost');
    const bob = await ts.login('bob@localhost/pc');
    for (const ns of [NS_DISCO_INFO, NS_DISCO_ITEMS]) {
      for (const to of ['alice@localhost', 'ghost@localhost']) {
        const r = await bob.iq(`<iq type='get' to='${to}'><query xmlns='${ns}' node='urn:xmpp:avatar:metadata'/></iq>`);
        expect(r.getChild('error')!.getChild('service-unavailable'), `${ns} to ${to}`).to.not.equal(undefined);
      }
    }
    // A contact learns that the node does not exist.
    await ts.store.put('roster', 'alice@localhost', 'bob@localhost', JSON.stringify({ jid: 'bob@localhost', subscription: 'from', groups: [] }));
    const r = await bob.iq(`<iq type='get' to='alice@localhost'><query xmlns='${NS_DISCO_INFO}' node='urn:xmpp:avatar:metadata'/></iq>`);
    expect(r.getChild('error')!.getChild('item-not-found')).to.not.equal(undefined);
  });
});
