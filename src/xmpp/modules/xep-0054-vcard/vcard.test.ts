import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { parseJid } from '../../../util/jid.js';
import vcard from './index.js';

const errorCondition = (r: { getChild(n: string): { elements(): { name: string }[] } | undefined }) => r.getChild('error')?.elements()[0]?.name;

describe('XEP-0054 vcard-temp', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  beforeEach(async () => {
    ts = await TestServer.start([vcard], { modules: { options: { vcard: { maxBytes: 2048 } } } });
    alice = await ts.login('alice@localhost/phone');
    bob = await ts.login('bob@localhost/pc');
  });
  afterEach(() => ts.stop());

  it('returns an empty vCard when none was set', async () => {
    const r = await alice.iq(`<iq type='get'><vCard xmlns='vcard-temp'/></iq>`);
    expect(r.attrs.type).to.equal('result');
    const v = r.getChild('vCard', 'vcard-temp')!;
    expect(v.elements()).to.have.length(0);
  });

  it('stores the own vCard and returns it to the owner and to others', async () => {
    const set = await alice.iq(`<iq type='set'><vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>al</NICKNAME></vCard></iq>`);
    expect(set.attrs.type).to.equal('result');
    const own = await alice.iq(`<iq type='get'><vCard xmlns='vcard-temp'/></iq>`);
    expect(own.getChild('vCard')!.getChildText('FN')).to.equal('Alice Liddell');
    const other = await bob.iq(`<iq type='get' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>`);
    expect(other.attrs.from).to.equal('alice@localhost');
    expect(other.getChild('vCard', 'vcard-temp')!.getChildText('NICKNAME')).to.equal('al');
  });

  it("refuses to let one user change another's vCard", async () => {
    await alice.iq(`<iq type='set'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>`);
    const r = await bob.iq(`<iq type='set' to='alice@localhost'><vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard></iq>`);
    expect(r.attrs.type).to.equal('error');
    expect(errorCondition(r)).to.equal('forbidden');
    const still = await alice.iq(`<iq type='get'><vCard xmlns='vcard-temp'/></iq>`);
    expect(still.getChild('vCard')!.getChildText('FN')).to.equal('Alice');
  });

  it('rejects vCards over the size limit and keeps the previous one', async () => {
    await alice.iq(`<iq type='set'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>`);
    const r = await alice.iq(`<iq type='set'><vCard xmlns='vcard-temp'><PHOTO><BINVAL>${'A'.repeat(4000)}</BINVAL></PHOTO></vCard></iq>`);
    expect(errorCondition(r)).to.equal('not-acceptable');
    const still = await alice.iq(`<iq type='get'><vCard xmlns='vcard-temp'/></iq>`);
    expect(still.getChild('vCard')!.getChildText('FN')).to.equal('Alice');
  });

  it('an empty set clears the vCard', async () => {
    await alice.iq(`<iq type='set'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>`);
    await alice.iq(`<iq type='set'><vCard xmlns='vcard-temp'/></iq>`);
    const r = await bob.iq(`<iq type='get' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>`);
    expect(r.getChild('vCard')!.elements()).to.have.length(0);
  });

  it('is deleted with the account', async () => {
    await alice.iq(`<iq type='set'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>`);
    await ts.server.deleteAccount(parseJid('alice@localhost'));
    expect(await ts.store.get('vcard', 'alice@localhost', 'vcard')).to.equal(undefined);
  });
});
