import { expect } from 'chai';
import { MemoryStore } from '../../../storage/memory/index.js';
import type { XmlElement } from '../../../util/xml.js';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import { NS_PUBSUB, NS_PUBSUB_ERRORS, NS_PUBSUB_EVENT } from '../xep-0163-pep/protocol.js';
import pubsub from './index.js';

/** Stanzas and checks shared by the service's tests: requests to pubsub.localhost as alice, bob and carol. */
export const SERVICE = 'pubsub.localhost';
export const condition = (r: XmlElement): string | undefined => r.getChild('error')?.elements()[0]?.name;
export const appCondition = (r: XmlElement): XmlElement | undefined => r.getChild('error')?.elements().find((e) => e.attrs.xmlns === NS_PUBSUB_ERRORS);
export const set = (body: string, ns = NS_PUBSUB): string => `<iq type='set' to='${SERVICE}'><pubsub xmlns='${ns}'>${body}</pubsub></iq>`;
export const get = (body: string, ns = NS_PUBSUB): string => `<iq type='get' to='${SERVICE}'><pubsub xmlns='${ns}'>${body}</pubsub></iq>`;
export const nodeConfig = (fields: Record<string, string>): string =>
  `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS_PUBSUB}#node_config</value></field>${Object.entries(fields)
    .map(([k, v]) => `<field var='${k}'><value>${v}</value></field>`)
    .join('')}</x>`;
export const publishItem = (node: string, text: string, id?: string): string =>
  set(`<publish node='${node}'><item${id === undefined ? '' : ` id='${id}'`}><entry xmlns='urn:test'>${text}</entry></item></publish>`);
export const itemsOf = (r: XmlElement): (string | undefined)[][] =>
  r.getChild('pubsub', NS_PUBSUB)!.getChild('items')!.getChildren('item').map((i) => [i.attrs.id, i.getChildText('entry') ?? undefined]);
export const isEvent = (node: string) => (e: XmlElement): boolean =>
  e.name === 'message' && e.attrs.from === SERVICE && e.getChild('event', NS_PUBSUB_EVENT)?.elements()[0]?.attrs.node === node;

export interface Users {
  ts: TestServer;
  alice: TestClient;
  bob: TestClient;
  carol: TestClient;
}

/** `store`: one holding rows already (a restart, an older layout), or one that watches reads. */
export async function start(overrides: Record<string, unknown> = {}, store: MemoryStore = new MemoryStore()): Promise<Users> {
  const ts = await TestServer.start([roster, presence, disco, pubsub], overrides, store);
  const users = { ts, alice: await ts.login('alice@localhost/a'), bob: await ts.login('bob@localhost/b'), carol: await ts.login('carol@localhost/c') };
  // Online, so that notifications to their bare JIDs reach them.
  for (const c of [users.alice, users.bob, users.carol]) await c.send('<presence/>');
  return users;
}

/** Options of the pubsub module, as a TestServer override. */
export const withOptions = (options: Record<string, unknown>): Record<string, unknown> => ({ modules: { options: { pubsub: options } } });

export async function ok(client: TestClient, stanza: string): Promise<XmlElement> {
  const r = await client.iq(stanza);
  expect(r.attrs.type, r.toString()).to.equal('result');
  return r;
}
