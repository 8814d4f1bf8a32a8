import { TestServer, type TestClient } from '../../../testing/harness.js';
import { expect } from 'chai';
import disco from '../xep-0030-disco/index.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import muc from './index.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_MUC, NS_MUC_OWNER, NS_MUC_USER } from './ns.js';

/** Status codes of a MUC presence. */
export const statusCodes = (p: XmlElement): string[] => (p.getChild('x', NS_MUC_USER)?.getChildren('status') ?? []).map((s) => s.attrs.code!);

/** Joins `room` as `nick` and waits for the subject message that ends a join (XEP-0045 §7.2.15); returns the self-presence (or the error). */
export async function joinRoom(c: TestClient, room: string, nick: string, extra = ''): Promise<XmlElement> {
  await c.send(`<presence to='${room}/${nick}'><x xmlns='${NS_MUC}'>${extra}</x></presence>`);
  const self = await c.waitFor((el) => el.name === 'presence' && el.attrs.from === `${room}/${nick}` && (statusCodes(el).includes('110') || el.attrs.type === 'error'));
  if (self.attrs.type !== 'error') await c.waitFor((el) => el.name === 'message' && el.getChild('subject') !== undefined && el.attrs.from?.startsWith(room) === true);
  return self;
}

/** Creates `room` by joining it and accepting the default configuration (an instant room, §10.1.2); returns the raw iq result. */
export async function createInstantRoom(c: TestClient, room: string, nick: string): Promise<{ self: XmlElement; result: XmlElement }> {
  const self = await joinRoom(c, room, nick);
  const result = await c.iq(`<iq type='set' to='${room}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'/></query></iq>`);
  return { self, result };
}

/** Creates `room` as an instant room, as `createInstantRoom`, and expects the owner's submit accepted; returns the self-presence. */
export async function createRoom(c: TestClient, room: string, nick: string): Promise<XmlElement> {
  const { self, result } = await createInstantRoom(c, room, nick);
  expect(result.attrs.type, result.toString()).to.equal('result');
  return self;
}

/** The owner submits the room configuration form (§10.2) with `fields`; returns the iq answer. */
export function configureRoom(c: TestClient, room: string, fields: Record<string, string>): Promise<XmlElement> {
  const f = Object.entries(fields)
    .map(([k, v]) => `<field var='${k}'><value>${v}</value></field>`)
    .join('');
  return c.iq(`<iq type='set' to='${room}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>${f}</x></query></iq>`);
}

/** The defined condition of an error stanza (`forbidden`, `conflict`, …). */
export const errorCondition = (r: XmlElement): string | undefined => r.getChild('error')?.elements()[0]?.name;

/** The attributes of a MUC presence's `<item/>` (affiliation, role, jid, nick). */
export const occupantItem = (p: XmlElement): Record<string, string | undefined> => p.getChild('x', NS_MUC_USER)?.getChild('item')?.attrs ?? {};

/** Matches a presence from `from` (an occupant JID) that `pred` accepts. */
export const presenceFrom =
  (from: string, pred: (p: XmlElement) => boolean = () => true) =>
  (el: XmlElement): boolean =>
    el.name === 'presence' && el.attrs.from === from && pred(el);

let archiveQueries = 0;

/** The room archive's messages, oldest first, as `reader` gets them (XEP-0313 on the room's JID). */
export async function roomArchive(reader: TestClient, room: string): Promise<XmlElement[]> {
  const NS_MAM = 'urn:xmpp:mam:2';
  const queryid = `room-q${archiveQueries++}`;
  const fin = await reader.iq(`<iq type='set' to='${room}'><query xmlns='${NS_MAM}' queryid='${queryid}'/></iq>`);
  expect(fin.attrs.type, fin.toString()).to.equal('result');
  return reader.received.filter((m) => m.getChild('result', NS_MAM)?.attrs.queryid === queryid).map((m) => m.getChild('result', NS_MAM)!.getChild('forwarded')!.getChild('message')!);
}

/**
 * A server with MUC (and roster, presence, disco), `logins` logged in, and
 * `room` created by the first of them as 'Alice' (an instant room): the
 * start of most room tests.
 */
export async function startWithRoom<const L extends readonly string[]>(room: string, logins: L): Promise<{ ts: TestServer; clients: { [K in keyof L]: TestClient } }> {
  const ts = await TestServer.start([roster, presence, disco, muc]);
  const clients: TestClient[] = [];
  for (const full of logins) clients.push(await ts.login(full));
  await createRoom(clients[0]!, room, 'Alice');
  return { ts, clients: clients as { [K in keyof L]: TestClient } };
}
