import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from './index.js';

const GET = (ver: string) => `<iq type='get'><query xmlns='jabber:iq:roster' ver='${ver}'/></iq>`;
const addItem = (jid: string) => `<iq type='set'><query xmlns='jabber:iq:roster'><item jid='${jid}'/></query></iq>`;
const jids = (result: XmlElement) => (result.getChild('query')?.getChildren('item') ?? []).map((i) => i.attrs.jid);
const isPush = (e: XmlElement) => e.name === 'iq' && e.attrs.type === 'set' && e.getChild('query')?.attrs.xmlns === 'jabber:iq:roster';

/**
 * RFC 6121 §2.6 (XEP-0237): a client that sends the version it cached gets the whole roster, or an
 * empty result and then only the pushes since; never an empty result for a roster it has not seen.
 */
describe('RFC 6121 §2.6 roster versioning', () => {
  let ts: TestServer;
  beforeEach(async () => {
    ts = await TestServer.start([roster, presence]);
  });
  afterEach(() => ts.stop());

  it('each push carries the version of the roster after it, and that version asked for again is up to date', async () => {
    const phone = await ts.login('alice@localhost/phone');
    const laptop = await ts.login('alice@localhost/laptop');
    const first = await phone.iq(GET(''));
    await laptop.iq(GET(''));
    await laptop.iq(addItem('bob@localhost'));
    await laptop.iq(addItem('carol@localhost'));
    // §2.1.6: every resource that asked for the roster gets each push.
    const pushes = phone.all(isPush);
    expect(pushes.map((p) => p.getChild('query')!.getChild('item')!.attrs.jid)).to.deep.equal(['bob@localhost', 'carol@localhost']);
    expect(laptop.all(isPush)).to.have.length(2);
    const vers = pushes.map((p) => p.getChild('query')!.attrs.ver!);
    expect(new Set([first.getChild('query')!.attrs.ver, ...vers]).size).to.equal(3);
    const upToDate = await phone.iq(GET(vers[1]!));
    expect([upToDate.attrs.type, upToDate.getChild('query')]).to.deep.equal(['result', undefined]);
    // A client that missed the last push asks with the one before it, and is given the roster.
    expect(jids(await phone.iq(GET(vers[0]!)))).to.have.members(['bob@localhost', 'carol@localhost']);
  });

  for (const [what, ver] of [['an unknown', 'no-such-version'], ['an empty', '']] as const) {
    it(`${what} version gets the whole roster with its version`, async () => {
      const alice = await ts.login('alice@localhost/a');
      await alice.iq(addItem('bob@localhost'));
      const r = await alice.iq(GET(ver));
      expect(jids(r)).to.deep.equal(['bob@localhost']);
      expect(r.getChild('query')!.attrs.ver).to.be.a('string').and.not.equal('');
    });
  }

  it('a version cached from a deleted account is not taken as current by a new account of the same name', async () => {
    const old: TestClient = await ts.login('alice@localhost/a');
    await old.iq(addItem('bob@localhost'));
    await old.iq(addItem('carol@localhost'));
    const cached = (await old.iq(GET(''))).getChild('query')!.attrs.ver!;
    await ts.server.deleteAccount(old.session.jid);

    // Someone registers the name again and builds a roster of the same length; the phone that
    // cached the old roster logs in to it.
    const renewed = await ts.login('alice@localhost/b');
    await renewed.iq(addItem('dave@localhost'));
    await renewed.iq(addItem('erin@localhost'));
    const r = await renewed.iq(GET(cached));
    expect(jids(r)).to.have.members(['dave@localhost', 'erin@localhost']);
  });
});
