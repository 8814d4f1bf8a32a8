import { parseJid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import { eachTest } from '../../../testing/each-test.js';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco, { NS_DISCO_INFO } from '../xep-0030-disco/index.js';
import caps from '../xep-0115-caps/index.js';
import { capsVer } from '../xep-0115-caps/ver.js';
import pep, { NS_PUBSUB, NS_PUBSUB_ERRORS, NS_PUBSUB_EVENT } from './index.js';

/** Stanzas and steps the PEP tests share. */

export interface PepUsers {
  ts: TestServer;
  alice: TestClient;
  bob: TestClient;
  dave: TestClient;
}

/** A server with PEP and what it needs (`overrides`: configuration), and three logged-in users: alice owns the nodes, bob and dave ask. */
export async function startPep(overrides: Record<string, unknown> = {}): Promise<PepUsers> {
  const ts = await TestServer.start([roster, presence, disco, caps, pep], overrides);
  return { ts, alice: await ts.login('alice@localhost/phone'), bob: await ts.login('bob@localhost/pc'), dave: await ts.login('dave@localhost/pc') };
}

/** startPep() afresh for every test of the enclosing describe, stopped after it; tests read `pep.alice` and so on. */
export function startPepEachTest(): PepUsers {
  return eachTest(() => startPep(), ({ ts }) => ts.stop());
}
export const NS_CAPS = 'http://jabber.org/protocol/caps';
export const DEVICELIST = 'eu.siacs.conversations.axolotl.devicelist';
export const AVATAR_META = 'urn:xmpp:avatar:metadata';
export const MOOD = 'http://jabber.org/protocol/mood';

export const condition = (r: XmlElement) => r.getChild('error')?.elements()[0]?.name;
export const appCondition = (r: XmlElement) => r.getChild('error')?.elements().find((e) => e.attrs.xmlns === NS_PUBSUB_ERRORS)?.name;

export function publishOptions(fields: Record<string, string>): string {
  const f = Object.entries(fields)
    .map(([k, v]) => `<field var='${k}'><value>${v}</value></field>`)
    .join('');
  return `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS_PUBSUB}#publish-options</value></field>${f}</x></publish-options>`;
}

export function publish(node: string, item: string, opts?: Record<string, string>, id?: string): string {
  return `<iq type='set'><pubsub xmlns='${NS_PUBSUB}'><publish node='${node}'><item${id ? ` id='${id}'` : ''}>${item}</item></publish>${opts ? publishOptions(opts) : ''}</pubsub></iq>`;
}

export function getItems(owner: string, node: string, extra = ''): string {
  return `<iq type='get' to='${owner}'><pubsub xmlns='${NS_PUBSUB}'><items node='${node}'${extra}/></pubsub></iq>`;
}

export const event = (node: string) => (e: XmlElement) => e.name === 'message' && e.getChild('event', NS_PUBSUB_EVENT)?.getChild('items')?.attrs.node === node;

/** `contact` gets a presence subscription to `owner` (owner's roster: from; contact's: to). */
export async function subscribe(contact: TestClient, owner: TestClient): Promise<void> {
  const ownerBare = parseJid(owner.jid).bare;
  const contactBare = parseJid(contact.jid).bare;
  await contact.send(`<presence to='${ownerBare}' type='subscribe'/>`);
  await owner.send(`<presence to='${contactBare}' type='subscribed'/>`);
}

/**
 * The client goes available with caps whose features are `features`, and
 * answers the server's disco#info query for them, as a real client would.
 */
export async function availableWithCaps(client: TestClient, features: string[]): Promise<void> {
  const identities = [{ category: 'client', type: 'pc', name: 'test' }];
  const all = [NS_DISCO_INFO, NS_CAPS, ...features];
  const ver = capsVer(identities, all, []);
  const node = 'https://test.example';
  await client.send(`<presence><c xmlns='${NS_CAPS}' hash='sha-1' node='${node}' ver='${ver}'/></presence>`);
  const query = await client.waitFor((e) => e.name === 'iq' && e.attrs.type === 'get' && e.getChild('query', NS_DISCO_INFO)?.attrs.node === `${node}#${ver}`);
  await client.send(
    `<iq type='result' id='${query.attrs.id}' to='${query.attrs.from}'><query xmlns='${NS_DISCO_INFO}' node='${node}#${ver}'><identity category='client' type='pc' name='test'/>${all.map((f) => `<feature var='${f}'/>`).join('')}</query></iq>`,
  );
}
