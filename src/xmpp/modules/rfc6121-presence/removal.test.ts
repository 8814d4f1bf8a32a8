import { expect } from 'chai';
import type { XmlElement } from '../../../util/xml.js';
import { CONTACT, STATES, USER, parseState, startUserSide, type UserSide } from './test-support.js';

/**
 * RFC 6121 §2.5.2: removing a contact from the roster ends what is shared both ways: a subscription
 * or request of the user's is cancelled (unsubscribe), the contact's subscription or pending request
 * is refused (unsubscribed), and nothing of it is kept; a subscriber sees the user go offline.
 */
describe('RFC 6121 §2.5.2 removing a roster item, in each subscription state', () => {
  let side: UserSide;
  beforeEach(async () => {
    side = await startUserSide();
  });
  afterEach(() => side.ts.stop());

  for (const state of STATES) {
    const s = parseState(state);
    const cancels = s.subscription === 'to' || s.subscription === 'both' || s.out;
    const refuses = s.subscription === 'from' || s.subscription === 'both' || s.in;
    it(`"${state}": ${[cancels && 'unsubscribe', refuses && 'unsubscribed'].filter(Boolean).join(' and ') || 'nothing'} to the contact, and nothing left`, async () => {
      await side.setState(state);
      const r = await side.alice.iq(`<iq type='set'><query xmlns='jabber:iq:roster'><item jid='${CONTACT}' subscription='remove'/></query></iq>`);
      expect(r.attrs.type).to.equal('result');
      const sent = (type: string) => side.routed.filter((e: XmlElement) => e.attrs.type === type && e.attrs.from === USER);
      expect(sent('unsubscribe'), 'unsubscribe').to.have.length(cancels ? 1 : 0);
      expect(sent('unsubscribed'), 'unsubscribed').to.have.length(refuses ? 1 : 0);
      const subscriber = s.subscription === 'from' || s.subscription === 'both';
      expect(side.routed.filter((e) => e.attrs.type === 'unavailable'), 'unavailable').to.have.length(subscriber ? 1 : 0);
      expect(await side.store.get(USER, CONTACT)).to.equal(undefined);
      // A request left pending would be offered again at the next login.
      const next = await side.ts.login(`${USER}/next`);
      await next.send('<presence/>');
      expect(next.all((e) => e.attrs.from === CONTACT && e.attrs.type === 'subscribe')).to.deep.equal([]);
    });
  }
});
