import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from './index.js';

const GET = "<iq type='get'><query xmlns='jabber:iq:roster'/></iq>";
const jids = (result: XmlElement) => (result.getChild('query')?.getChildren('item') ?? []).map((i) => i.attrs.jid);
const errorCondition = (e: XmlElement) => e.getChild('error')?.elements()[0]?.name;

/** roster.maxItems holds however an item would be added: a roster set, a subscription request, an approval or a pre-approval. */
describe('roster.maxItems', () => {
  let ts: TestServer;
  let alice: TestClient;
  beforeEach(async () => {
    ts = await TestServer.start([roster, presence], { modules: { options: { roster: { maxItems: 2 } } } });
    alice = await ts.login('alice@localhost/a');
    await alice.iq(GET);
    await alice.send('<presence/>');
    for (const jid of ['bob@localhost', 'carol@localhost']) await alice.iq(`<iq type='set'><query xmlns='jabber:iq:roster'><item jid='${jid}'/></query></iq>`);
  });
  afterEach(() => ts.stop());

  for (const type of ['subscribe', 'subscribed'] as const) {
    it(`a full roster takes no new contact by <presence type='${type}'/>: the client is told, the contact asks nothing`, async () => {
      const dave = await ts.login('dave@localhost/d');
      await dave.send('<presence/>');
      if (type === 'subscribed') await dave.send("<presence to='alice@localhost' type='subscribe'/>");
      await alice.send(`<presence id='p1' to='dave@localhost' type='${type}'/>`);
      const err = await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'p1');
      expect([err.attrs.type, errorCondition(err)]).to.deep.equal(['error', 'not-allowed']);
      expect(jids(await alice.iq(GET))).to.have.members(['bob@localhost', 'carol@localhost']);
      expect(dave.all((e) => e.name === 'presence' && e.attrs.from?.startsWith('alice@') === true)).to.deep.equal([]);
      // Contacts already there are unaffected.
      await alice.send("<presence id='p2' to='bob@localhost' type='subscribe'/>");
      await alice.iq(GET);
      expect(alice.all((e) => e.attrs.id === 'p2')).to.deep.equal([]);
    });
  }
});
