import { expect } from 'chai';
import { TestServer, type TestClient } from '../../testing/harness.js';
import type { XmlElement } from '../../util/xml.js';
import roster from '../modules/rfc6121-roster/index.js';
import presence from '../modules/rfc6121-presence/index.js';
import offline from '../modules/xep-0160-offline/index.js';

type MessageType = 'chat' | 'normal' | 'headline' | 'groupchat' | 'error';
/** Who got it: resources of Bob's ('one': priority 1, 'neg': priority -1, 'quiet': connected, no presence), later from offline storage, or the sender an error. */
type Outcome = { to: string[] } | 'offline' | 'bounced' | 'dropped';

/** Bob's sessions in each scenario: resource → priority (null: connected without presence). */
const SCENARIOS: Record<string, { resources: Record<string, number | null>; account: boolean }> = {
  'available resources': { resources: { one: 1, neg: -1, quiet: null }, account: true },
  'only a negative-priority resource': { resources: { neg: -1 }, account: true },
  'no resources': { resources: {}, account: true },
  'no account': { resources: {}, account: false },
};

/**
 * RFC 6121 §8.5.2 (bare JID) and §8.5.3 (full JID), for each message type. Where the RFC leaves
 * a choice (store or bounce, ignore or bounce, one or all non-negative resources) the row says which
 * sori takes.
 */
const rules: [string, string, MessageType, Outcome][] = [
  // §8.5.2.1.1: to every available resource with non-negative priority; groupchat bounced, error ignored.
  ['available resources', 'bob@localhost', 'chat', { to: ['one'] }],
  ['available resources', 'bob@localhost', 'normal', { to: ['one'] }],
  ['available resources', 'bob@localhost', 'headline', { to: ['one'] }],
  ['available resources', 'bob@localhost', 'groupchat', 'bounced'],
  ['available resources', 'bob@localhost', 'error', 'dropped'],
  // §8.5.2.2: none available with non-negative priority: stored; headline and error ignored; groupchat bounced.
  ['only a negative-priority resource', 'bob@localhost', 'chat', 'offline'],
  ['only a negative-priority resource', 'bob@localhost', 'normal', 'offline'],
  ['only a negative-priority resource', 'bob@localhost', 'headline', 'dropped'],
  ['only a negative-priority resource', 'bob@localhost', 'groupchat', 'bounced'],
  ['only a negative-priority resource', 'bob@localhost', 'error', 'dropped'],
  ['no resources', 'bob@localhost', 'chat', 'offline'],
  ['no resources', 'bob@localhost', 'headline', 'dropped'],
  ['no resources', 'bob@localhost', 'groupchat', 'bounced'],
  // §8.5.3.1: a connected resource gets what is addressed to it, whatever its priority or presence.
  ['available resources', 'bob@localhost/neg', 'chat', { to: ['neg'] }],
  ['available resources', 'bob@localhost/neg', 'normal', { to: ['neg'] }],
  ['available resources', 'bob@localhost/quiet', 'headline', { to: ['quiet'] }],
  ['available resources', 'bob@localhost/neg', 'groupchat', { to: ['neg'] }],
  ['available resources', 'bob@localhost/quiet', 'error', { to: ['quiet'] }],
  // §8.5.3.2.1: no such resource: chat as to the bare JID; headline and error ignored; groupchat bounced.
  // Normal, which the RFC has ignored or bounced, is taken as chat here, as Prosody and ejabberd do: a room's
  // mediated invitation or a type-less chat to a resource that has left reaches the user instead of being lost.
  ['available resources', 'bob@localhost/gone', 'chat', { to: ['one'] }],
  ['available resources', 'bob@localhost/gone', 'normal', { to: ['one'] }],
  ['available resources', 'bob@localhost/gone', 'headline', 'dropped'],
  ['available resources', 'bob@localhost/gone', 'groupchat', 'bounced'],
  ['available resources', 'bob@localhost/gone', 'error', 'dropped'],
  ['only a negative-priority resource', 'bob@localhost/gone', 'chat', 'offline'],
  // §8.5.1: no such account: bounced (headline and error ignored).
  ['no account', 'bob@localhost', 'chat', 'bounced'],
  ['no account', 'bob@localhost', 'normal', 'bounced'],
  ['no account', 'bob@localhost/x', 'chat', 'bounced'],
  ['no account', 'bob@localhost', 'groupchat', 'bounced'],
  ['no account', 'bob@localhost', 'headline', 'dropped'],
  ['no account', 'bob@localhost', 'error', 'dropped'],
];

const describeOutcome = (o: Outcome) => (typeof o === 'string' ? o : `delivered to ${o.to.join(', ')}`);

describe('message routing rules, table (RFC 6121 §8.5.2, §8.5.3)', () => {
  let ts: TestServer;
  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, offline]);
  });
  afterEach(() => ts.stop());

  for (const [scenario, to, type, outcome] of rules) {
    it(`${type} to ${to} with ${scenario}: ${describeOutcome(outcome)}`, async () => {
      const { resources, account } = SCENARIOS[scenario]!;
      const alice = await ts.login('alice@localhost/a');
      await alice.send('<presence/>');
      if (account) await ts.addUser('bob@localhost');
      const bob: Record<string, TestClient> = {};
      for (const [resource, priority] of Object.entries(resources)) {
        bob[resource] = await ts.login(`bob@localhost/${resource}`);
        if (priority !== null) await bob[resource]!.send(`<presence><priority>${priority}</priority></presence>`);
      }
      const body = `${type} to ${to}`;
      const isIt = (e: XmlElement) => e.name === 'message' && e.getChildText('body') === body;
      await alice.send(`<message id='m1' to='${to}' type='${type}'><body>${body}</body></message>`);
      await alice.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");

      const gotIt = Object.entries(bob).filter(([, c]) => c.all(isIt).length > 0).map(([r]) => r);
      const bounce = alice.all((e) => e.attrs.id === 'm1' && e.attrs.type === 'error');
      expect(gotIt, 'delivered to').to.deep.equal(typeof outcome === 'string' ? [] : outcome.to);
      expect(bounce.map((e) => e.getChild('error')?.elements()[0]?.name), 'error to the sender').to.deep.equal(outcome === 'bounced' ? ['service-unavailable'] : []);
      if (!account) return;
      // A resource that comes online with a usable priority gets what was stored, and only that.
      const later = await ts.login('bob@localhost/later');
      await later.send('<presence/>');
      await later.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
      expect(later.all(isIt), 'stored offline').to.have.length(outcome === 'offline' ? 1 : 0);
    });
  }
});
