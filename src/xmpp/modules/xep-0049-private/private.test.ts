import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { parseJid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import priv from './index.js';

const condition = (r: XmlElement) => r.getChild('error')?.elements()[0]?.name;

describe('XEP-0049 private XML storage', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  beforeEach(async () => {
    ts = await TestServer.start([priv], { modules: { options: { private: { maxNamespaces: 2 } } } });
    alice = await ts.login('alice@localhost/phone');
    bob = await ts.login('bob@localhost/pc');
  });
  afterEach(() => ts.stop());

  it('stores and returns data per namespace', async () => {
    const set = await alice.iq(`<iq type='set'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus></query></iq>`);
    expect(set.attrs.type).to.equal('result');
    await alice.iq(`<iq type='set'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='r@muc.localhost'/></storage></query></iq>`);
    const r = await alice.iq(`<iq type='get'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>`);
    const q = r.getChild('query', 'jabber:iq:private')!;
    expect(q.elements()).to.have.length(1);
    expect(q.getChild('exodus', 'exodus:prefs')!.getChildText('defaultnick')).to.equal('Hamlet');
  });

  it('returns the empty element when nothing is stored', async () => {
    const r = await alice.iq(`<iq type='get'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`);
    expect(r.attrs.type).to.equal('result');
    const s = r.getChild('query')!.getChild('storage', 'storage:bookmarks')!;
    expect(s.elements()).to.have.length(0);
  });

  it("never lets bob read or write alice's data", async () => {
    await alice.iq(`<iq type='set'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus></query></iq>`);
    const get = await bob.iq(`<iq type='get' to='alice@localhost'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>`);
    expect(get.attrs.type).to.equal('error');
    expect(condition(get)).to.equal('forbidden');
    expect(get.toString()).not.to.contain('Hamlet');
    const set = await bob.iq(`<iq type='set' to='alice@localhost'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'><defaultnick>Macbeth</defaultnick></exodus></query></iq>`);
    expect(condition(set)).to.equal('forbidden');
    // And bob's own storage is his: the same namespace is empty for him.
    const own = await bob.iq(`<iq type='get'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>`);
    expect(own.getChild('query')!.getChild('exodus')!.elements()).to.have.length(0);
    const still = await alice.iq(`<iq type='get'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>`);
    expect(still.getChild('query')!.getChild('exodus')!.getChildText('defaultnick')).to.equal('Hamlet');
  });

  it('refuses reserved namespaces and empty queries with not-acceptable', async () => {
    const vcard = await alice.iq(`<iq type='set'><query xmlns='jabber:iq:private'><vCard xmlns='vcard-temp'><FN>x</FN></vCard></query></iq>`);
    expect(condition(vcard)).to.equal('not-acceptable');
    const jabber = await alice.iq(`<iq type='get'><query xmlns='jabber:iq:private'><query xmlns='jabber:iq:roster'/></query></iq>`);
    expect(condition(jabber)).to.equal('not-acceptable');
    const empty = await alice.iq(`<iq type='get'><query xmlns='jabber:iq:private'/></iq>`);
    expect(condition(empty)).to.equal('not-acceptable');
  });

  it('limits the number of namespaces per account', async () => {
    for (const ns of ['a:1', 'a:2']) expect((await alice.iq(`<iq type='set'><query xmlns='jabber:iq:private'><d xmlns='${ns}'/></query></iq>`)).attrs.type).to.equal('result');
    const third = await alice.iq(`<iq type='set'><query xmlns='jabber:iq:private'><d xmlns='a:3'/></query></iq>`);
    expect(condition(third)).to.equal('resource-constraint');
    const rewrite = await alice.iq(`<iq type='set'><query xmlns='jabber:iq:private'><d xmlns='a:2'>new</d></query></iq>`);
    expect(rewrite.attrs.type).to.equal('result');
  });

  it('is deleted with the account', async () => {
    await alice.iq(`<iq type='set'><query xmlns='jabber:iq:private'><d xmlns='a:1'/></query></iq>`);
    await ts.server.deleteAccount(parseJid('alice@localhost'));
    expect(await ts.store.range('private_xml', 'alice@localhost')).to.have.length(0);
  });
});
