import { expect } from 'chai';
import { x, type XmlElement } from '../../../util/xml.js';
import { CONTACT, USER, parseState as parse, startUserSide, type State, type UserSide } from './test-support.js';

type Kind = 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed';

const isFromContact = (type: string) => (e: XmlElement) => e.name === 'presence' && e.attrs.from === CONTACT && e.attrs.type === type;

/**
 * RFC 6121 Appendix A: each subscription stanza in each of the nine states, the user's side only.
 * The user is logged in and available; the contact is on another server (test-support.ts).
 */
describe('RFC 6121 Appendix A: subscription state tables', () => {
  let side: UserSide;
  let alice: UserSide['alice'];
  let routed: XmlElement[];
  beforeEach(async () => {
    side = await startUserSide();
    ({ alice, routed } = side);
  });
  afterEach(() => side.ts.stop());

  // A.3: the contact's stanza reaches the user's server. [state, stanza, delivered to the user?, new state]
  const inbound: [State, Kind, boolean, State][] = [
    ['None', 'subscribe', true, 'None+PI'],
    ['None+PO', 'subscribe', true, 'None+PO/PI'],
    ['None+PI', 'subscribe', false, 'None+PI'],
    ['None+PO/PI', 'subscribe', false, 'None+PO/PI'],
    ['To', 'subscribe', true, 'To+PI'],
    ['To+PI', 'subscribe', false, 'To+PI'],
    ['From', 'subscribe', false, 'From'],
    ['From+PO', 'subscribe', false, 'From+PO'],
    ['Both', 'subscribe', false, 'Both'],

    ['None', 'unsubscribe', false, 'None'],
    ['None+PO', 'unsubscribe', false, 'None+PO'],
    ['None+PI', 'unsubscribe', true, 'None'],
    ['None+PO/PI', 'unsubscribe', true, 'None+PO'],
    ['To', 'unsubscribe', false, 'To'],
    ['To+PI', 'unsubscribe', true, 'To'],
    ['From', 'unsubscribe', true, 'None'],
    ['From+PO', 'unsubscribe', true, 'None+PO'],
    ['Both', 'unsubscribe', true, 'To'],

    ['None', 'subscribed', false, 'None'],
    ['None+PO', 'subscribed', true, 'To'],
    ['None+PI', 'subscribed', false, 'None+PI'],
    ['None+PO/PI', 'subscribed', true, 'To+PI'],
    ['To', 'subscribed', false, 'To'],
    ['To+PI', 'subscribed', false, 'To+PI'],
    ['From', 'subscribed', false, 'From'],
    ['From+PO', 'subscribed', true, 'Both'],
    ['Both', 'subscribed', false, 'Both'],

    ['None', 'unsubscribed', false, 'None'],
    ['None+PO', 'unsubscribed', true, 'None'],
    ['None+PI', 'unsubscribed', false, 'None+PI'],
    ['None+PO/PI', 'unsubscribed', true, 'None+PI'],
    ['To', 'unsubscribed', true, 'None'],
    ['To+PI', 'unsubscribed', true, 'None+PI'],
    ['From', 'unsubscribed', false, 'From'],
    ['From+PO', 'unsubscribed', true, 'From'],
    ['Both', 'unsubscribed', true, 'From'],
  ];
  for (const [state, type, deliver, next] of inbound) {
    it(`A.3 inbound ${type} in "${state}": ${deliver ? 'delivered' : 'not delivered'}, then "${next}"`, async () => {
      await side.setState(state);
      alice.clear();
      await side.ts.server.route(x('presence', { type, from: CONTACT, to: USER }));
      await alice.iq("<iq type='get'><query xmlns='jabber:iq:roster' ver='x'/></iq>");
      expect(await side.readState()).to.equal(next);
      expect(alice.all(isFromContact(type)), 'delivered to the user').to.have.length(deliver ? 1 : 0);
      // A.3.1: a subscriber asking again is answered by the server; nobody else is.
      const autoReply = routed.filter((s) => s.attrs.type === 'subscribed' && s.attrs.from === USER);
      expect(autoReply, 'auto-reply subscribed').to.have.length(type === 'subscribe' && parse(state).subscription !== 'none' && parse(state).subscription !== 'to' ? 1 : 0);
    });
  }

  // A.2: the user's client sends the stanza. [state, stanza, routed to the contact?, new state]; null: either is allowed.
  const outbound: [State, Kind, boolean | null, State][] = [
    ['None', 'subscribe', true, 'None+PO'],
    ['None+PO', 'subscribe', true, 'None+PO'],
    ['None+PI', 'subscribe', true, 'None+PO/PI'],
    ['None+PO/PI', 'subscribe', true, 'None+PO/PI'],
    ['To', 'subscribe', true, 'To'],
    ['To+PI', 'subscribe', true, 'To+PI'],
    ['From', 'subscribe', true, 'From+PO'],
    ['From+PO', 'subscribe', true, 'From+PO'],
    ['Both', 'subscribe', true, 'Both'],

    ['None', 'unsubscribe', true, 'None'],
    ['None+PO', 'unsubscribe', true, 'None'],
    ['None+PI', 'unsubscribe', true, 'None+PI'],
    ['None+PO/PI', 'unsubscribe', true, 'None+PI'],
    ['To', 'unsubscribe', true, 'None'],
    ['To+PI', 'unsubscribe', true, 'None+PI'],
    ['From', 'unsubscribe', true, 'From'],
    ['From+PO', 'unsubscribe', true, 'From'],
    ['Both', 'unsubscribe', true, 'From'],

    // None, None+PO, To: a pre-approval (§3.4), which tells the contact nothing. From, From+PO and Both
    // are routed again by some servers (Prosody) to mend a contact's roster that lost the subscription.
    ['None', 'subscribed', false, 'None'],
    ['None+PO', 'subscribed', false, 'None+PO'],
    ['None+PI', 'subscribed', true, 'From'],
    ['None+PO/PI', 'subscribed', true, 'From+PO'],
    ['To', 'subscribed', false, 'To'],
    ['To+PI', 'subscribed', true, 'Both'],
    ['From', 'subscribed', null, 'From'],
    ['From+PO', 'subscribed', null, 'From+PO'],
    ['Both', 'subscribed', null, 'Both'],

    ['None', 'unsubscribed', false, 'None'],
    ['None+PO', 'unsubscribed', false, 'None+PO'],
    ['None+PI', 'unsubscribed', true, 'None'],
    ['None+PO/PI', 'unsubscribed', true, 'None+PO'],
    ['To', 'unsubscribed', false, 'To'],
    ['To+PI', 'unsubscribed', true, 'To'],
    ['From', 'unsubscribed', true, 'None'],
    ['From+PO', 'unsubscribed', true, 'None+PO'],
    ['Both', 'unsubscribed', true, 'To'],
  ];
  for (const [state, type, route, next] of outbound) {
    it(`A.2 outbound ${type} in "${state}": ${route === null ? 'routed or not' : route ? 'routed' : 'not routed'}, then "${next}"`, async () => {
      await side.setState(state);
      await alice.send(`<presence type='${type}' to='${CONTACT}'/>`);
      expect(await side.readState()).to.equal(next);
      const sent = routed.filter((s) => s.attrs.type === type);
      if (route !== null) expect(sent.map((s) => s.toString()), 'routed to the contact').to.have.length(route ? 1 : 0);
      for (const s of sent) expect(s.attrs.from, 'stamped with the bare JID').to.equal(USER);
      // Presence goes only to whoever may see it: a new subscriber gets it, a dropped one sees the user go offline.
      const was = parse(state).subscription;
      const wasSubscriber = was === 'from' || was === 'both';
      const available = routed.filter((s) => s.attrs.type === undefined && s.attrs.from === `${USER}/a`);
      const unavailable = routed.filter((s) => s.attrs.type === 'unavailable');
      if (type !== 'subscribed' || route === false) expect(available.map(String), 'available presence to the contact').to.deep.equal([]);
      else if (route) expect(available, 'available presence to the new subscriber').to.have.length(1);
      expect(unavailable.map(String), 'unavailable presence to the contact').to.have.length(type === 'unsubscribed' && wasSubscriber ? 1 : 0);
    });
  }
});
