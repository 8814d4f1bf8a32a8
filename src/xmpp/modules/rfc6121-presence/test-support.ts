import { TestServer, type TestClient } from '../../../testing/harness.js';
import { Table } from '../../../storage/wide-column.js';
import type { XmlElement } from '../../../util/xml.js';
import roster from '../rfc6121-roster/index.js';
import { RosterStore, type Subscription } from '../rfc6121-roster/store.js';
import presence from './index.js';

/** The nine subscription states of RFC 6121 Appendix A.1, as the user's server holds them for CONTACT. */
export type State = 'None' | 'None+PO' | 'None+PI' | 'None+PO/PI' | 'To' | 'To+PI' | 'From' | 'From+PO' | 'Both';
export const STATES: readonly State[] = ['None', 'None+PO', 'None+PI', 'None+PO/PI', 'To', 'To+PI', 'From', 'From+PO', 'Both'];

/** The user, logged in here; the contact is on another server, so what goes to it is seen at the router and nothing comes back. */
export const USER = 'alice@localhost';
export const CONTACT = 'bob@elsewhere.example';

export function parseState(state: State): { subscription: Subscription; out: boolean; in: boolean } {
  const [base, pending = ''] = state.split('+') as [string, string?];
  return { subscription: base.toLowerCase() as Subscription, out: pending.includes('PO'), in: pending.includes('PI') };
}

export interface UserSide {
  ts: TestServer;
  /** USER's resource 'a': it has fetched the roster and sent initial presence. */
  alice: TestClient;
  store: RosterStore;
  /** Stanzas routed to CONTACT, in order. */
  routed: XmlElement[];
  setState(state: State): Promise<void>;
  readState(): Promise<State>;
}

export async function startUserSide(): Promise<UserSide> {
  const ts = await TestServer.start([roster, presence]);
  const store = new RosterStore(new Table(ts.store, 'roster'), new Table(ts.store, 'roster_meta'), new Table(ts.store, 'roster_pending'));
  const alice = await ts.login(`${USER}/a`);
  await alice.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
  await alice.send('<presence/>');
  const routed: XmlElement[] = [];
  const route = ts.server.route.bind(ts.server);
  ts.server.route = (stanza, origin) => {
    if (stanza.attrs.to?.startsWith(CONTACT)) routed.push(stanza);
    return route(stanza, origin);
  };
  return {
    ts,
    alice,
    store,
    routed,
    async setState(state) {
      const s = parseState(state);
      await store.put(USER, { jid: CONTACT, subscription: s.subscription, ask: s.out ? 'subscribe' : undefined, groups: [] });
      if (s.in) await store.addPending(USER, CONTACT, `<presence xmlns='jabber:client' type='subscribe' from='${CONTACT}' to='${USER}'/>`);
    },
    async readState() {
      const item = await store.get(USER, CONTACT);
      const base = (item?.subscription ?? 'none').replace(/^./, (c) => c.toUpperCase());
      const pending = [item?.ask ? 'PO' : '', (await store.hasPending(USER, CONTACT)) ? 'PI' : ''].filter(Boolean).join('/');
      return (pending ? `${base}+${pending}` : base) as State;
    },
  };
}
