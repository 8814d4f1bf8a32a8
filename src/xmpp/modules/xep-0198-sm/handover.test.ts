import { expect } from 'chai';
import { ClusterLocator } from '../../../cluster/cluster-locator.js';
import { MemoryNodeBus, MemoryNodeBusHub } from '../../../cluster/memory-node-bus.js';
import { MemorySessionStore, MemorySessionTable } from '../../../cluster/memory-session-table.js';
import { MemoryStore } from '../../../storage/memory/index.js';
import { Table } from '../../../storage/wide-column.js';
import { TestServer } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import type { OfflineEvent } from '../../events.js';
import { defineModule } from '../../module.js';
import { CLIENT_ACKS } from '../../session.js';
import presence from '../rfc6121-presence/index.js';
import csi from '../xep-0352-csi/index.js';
import roster from '../rfc6121-roster/index.js';
import { RosterStore } from '../rfc6121-roster/store.js';
import type { NodeMessageHandler } from '../../../cluster/node-bus.js';
import { nodeOfResumeId } from './handover.js';
import sm, { NS_SM } from './index.js';

const isSm = (name: string) => (el: XmlElement) => el.name === name && el.attrs.xmlns === NS_SM;
const chat = (to: string, body: string) => `<message to='${to}' type='chat'><body>${body}</body></message>`;
const bodies = (els: XmlElement[]) => els.filter((e) => e.name === 'message').map((e) => e.getChildText('body'));

/** A node whose inbox takes `delayMs` longer over answers to its requests (a long handler ahead of them). */
class SlowAnswersBus extends MemoryNodeBus {
  delayMs = 0;
  override onMessage(handler: NodeMessageHandler): void {
    super.onMessage(async (payload, from) => {
      if (this.delayMs > 0 && (JSON.parse(payload) as { t: string }).t === 'res') await new Promise((r) => setTimeout(r, this.delayMs));
      return handler(payload, from);
    });
  }
}

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not reached within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Node {
  ts: TestServer;
  bus: SlowAnswersBus;
  table: MemorySessionTable;
  locator: ClusterLocator;
  offline: OfflineEvent[];
}

describe('XEP-0198 resumption on another cluster node (in-process nodes)', () => {
  let hub: MemoryNodeBusHub;
  let sessions: MemorySessionStore;
  let store: MemoryStore;
  let nodes: Node[];

  beforeEach(() => {
    hub = new MemoryNodeBusHub();
    sessions = new MemorySessionStore();
    store = new MemoryStore();
    nodes = [];
  });

  afterEach(async () => {
    for (const n of nodes) {
      await n.ts.stop();
      await n.bus.stop();
    }
  });

  async function startNode(nodeId: string, smOptions: Record<string, unknown> = {}): Promise<Node> {
    const offline: OfflineEvent[] = [];
    const spy = defineModule({
      name: 'offline-spy',
      implements: 'test',
      start(ctx) {
        ctx.hook('message/offline', (ev) => {
          offline.push(ev);
          return true;
        });
      },
    });
    const bus = new SlowAnswersBus(nodeId, hub);
    const table = new MemorySessionTable({ nodeId, store: sessions });
    let locator!: ClusterLocator;
    const ts = await TestServer.start([roster, presence, sm, csi, spy], { server: { nodeId, logLevel: 'warn' }, modules: { options: { sm: smOptions } } }, store, (s) => (locator = new ClusterLocator(s, table, bus)));
    await bus.start();
    const node = { ts, bus, table, locator, offline };
    nodes.push(node);
    return node;
  }

  it('hands a hibernated session over: the queue is re-sent once, later messages reach the new node, nothing goes offline', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const alice = await b.ts.login('alice@localhost/a');
    const bob = await a.ts.login('bob@localhost/b');
    await bob.send('<presence/>');
    await bob.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const id = (await bob.waitFor(isSm('enabled'))).attrs.id!;
    expect(nodeOfResumeId(id)).to.equal('node-a');
    await bob.send(chat('alice@localhost/a', 'hi'));
    await bob.drop();
    for (const body of ['1', '2', '3']) await alice.send(chat('bob@localhost/b', body));
    await until(() => a.locator.stats.received === 3, 'three messages forwarded to node A');
    // Node A's inbox keeps them until they are acknowledged, or until the queue moves to node B.
    let released = false;
    void a.ts.server.sessions.get('bob@localhost/b')!.get(CLIENT_ACKS)!.untilHandled().then(() => (released = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(released).to.equal(false);

    const again = await b.ts.authenticated('bob@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    const resumed = await again.waitFor(isSm('resumed'));
    // h: <presence/> and the message to alice (enable came after the presence: only the message counts).
    expect(resumed.attrs).to.include({ previd: id, h: '1' });
    expect(again.received.indexOf(resumed)).to.equal(0);
    expect(bodies(again.received)).to.deep.equal(['1', '2', '3']);
    expect(released).to.equal(true);
    expect(a.ts.server.sessions.get('bob@localhost/b')).to.equal(undefined);
    expect(b.ts.server.sessions.get('bob@localhost/b')?.presence).to.not.equal(null);
    expect((await b.table.get('bob@localhost/b'))?.node).to.equal('node-b');

    await alice.send(chat('bob@localhost/b', 'after'));
    await again.waitFor((e) => e.name === 'message' && e.getChildText('body') === 'after');
    expect(bodies(again.received)).to.deep.equal(['1', '2', '3', 'after']);
    // The queue continues on node B's counters: acknowledging all four is accepted.
    await again.send(`<a xmlns='${NS_SM}' h='4'/>`);
    await again.send(`<r xmlns='${NS_SM}'/>`);
    expect(again.received.filter(isSm('a')).at(-1)?.attrs.h).to.equal('1');
    expect(again.closedWith).to.equal(undefined);
    expect([...a.offline, ...b.offline]).to.have.length(0);
  });

  it('takes over a session still connected on the other node, closing that connection with conflict', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const bob = await a.ts.login('bob@localhost/b');
    await bob.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const id = (await bob.waitFor(isSm('enabled'))).attrs.id!;
    const again = await b.ts.authenticated('bob@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    await again.waitFor(isSm('resumed'));
    expect(bob.closedWith).to.equal('conflict');
    expect(a.ts.server.sessions.get('bob@localhost/b')).to.equal(undefined);
  });

  /** alice on node B and bob on node A, subscribed both ways; bob hibernated with one message queued for him. */
  async function bobHibernatedWithOneQueued(a: Node, b: Node) {
    const rosters = new RosterStore(new Table(store, 'roster'), new Table(store, 'roster_meta'), new Table(store, 'roster_pending'));
    await rosters.put('alice@localhost', { jid: 'bob@localhost', subscription: 'both', groups: [] });
    await rosters.put('bob@localhost', { jid: 'alice@localhost', subscription: 'both', groups: [] });
    const alice = await b.ts.login('alice@localhost/a');
    await alice.send('<presence/>');
    const bob = await a.ts.login('bob@localhost/b');
    await bob.send('<presence/>');
    await bob.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const id = (await bob.waitFor(isSm('enabled'))).attrs.id!;
    await alice.waitFor((e) => e.name === 'presence' && e.attrs.from === 'bob@localhost/b');
    await bob.drop();
    await alice.send(chat('bob@localhost/b', 'queued'));
    await until(() => a.locator.stats.received === 1, 'the message forwarded to node A');
    return { alice, id };
  }

  it('ends the session as timed out when the answer reaches the asker after it gave up: the queue goes offline, contacts are told', async () => {
    const a = await startNode('node-a', { handoverSeconds: 0.3 });
    const b = await startNode('node-b', { handoverSeconds: 0.3 });
    const { alice, id } = await bobHibernatedWithOneQueued(a, b);
    b.bus.delayMs = 600;

    const again = await b.ts.authenticated('bob@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    expect((await again.waitFor((e) => isSm('failed')(e) || isSm('resumed')(e))).name).to.equal('failed');
    const unavailable = (e: XmlElement) => e.name === 'presence' && e.attrs.from === 'bob@localhost/b' && e.attrs.type === 'unavailable';
    await alice.waitFor(unavailable);
    expect(a.ts.server.sessions.get('bob@localhost/b')).to.equal(undefined);
    expect(b.ts.server.sessions.get('bob@localhost/b')).to.equal(undefined);
    expect(await b.table.get('bob@localhost/b')).to.equal(undefined);
    expect(a.offline.map((ev) => ev.stanza.getChildText('body'))).to.deep.equal(['queued']);
    await new Promise((r) => setTimeout(r, 700)); // the late answer has arrived and been dropped
    expect(alice.received.filter(unavailable)).to.have.length(1);
    expect(b.offline).to.have.length(0);
  });

  it('passes on to the new node what reached the old one while the session was being handed over', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const { alice, id } = await bobHibernatedWithOneQueued(a, b);
    b.bus.delayMs = 300;

    const again = await b.ts.authenticated('bob@localhost');
    const resuming = again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    await new Promise((r) => setTimeout(r, 150)); // node A has answered; node B has not bound yet
    expect(b.ts.server.sessions.get('bob@localhost/b')).to.equal(undefined);
    await alice.send(chat('bob@localhost/b', 'during'));
    await resuming;
    await again.waitFor(isSm('resumed'));
    await again.waitFor((e) => e.name === 'message' && e.getChildText('body') === 'during');
    await until(() => a.ts.server.sessions.get('bob@localhost/b') === undefined, 'node A let the session go');
    expect(bodies(again.received)).to.deep.equal(['queued', 'during']);
    expect([...a.offline, ...b.offline]).to.have.length(0);
    expect(alice.received.filter((e) => e.name === 'presence' && e.attrs.type === 'unavailable')).to.have.length(0);
  });

  it('passes on what client state indication held for an inactive session, once the new node has it', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const alice = await b.ts.login('alice@localhost/a');
    const bob = await a.ts.login('bob@localhost/b');
    await bob.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const id = (await bob.waitFor(isSm('enabled'))).attrs.id!;
    await bob.send(`<inactive xmlns='urn:xmpp:csi:0'/>`);
    await alice.send(`<message to='bob@localhost/b'><received xmlns='urn:xmpp:receipts' id='m1'/></message>`);
    await until(() => a.locator.stats.received === 1, 'the receipt forwarded to node A');
    await bob.drop();

    const again = await b.ts.authenticated('bob@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    await again.waitFor(isSm('resumed'));
    const receipt = await again.waitFor((e) => e.name === 'message' && e.getChild('received', 'urn:xmpp:receipts') !== undefined);
    expect(receipt.getChild('received', 'urn:xmpp:receipts')?.attrs.id).to.equal('m1');
    expect([...a.offline, ...b.offline]).to.have.length(0);
  });

  it('fails with item-not-found for another account, a dead node, or a holder that does not answer; h too high is refused and the session kept', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b', { handoverSeconds: 0.2 });
    const bob = await a.ts.login('bob@localhost/b');
    await bob.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const id = (await bob.waitFor(isSm('enabled'))).attrs.id!;
    await bob.drop();

    const mallory = await b.ts.authenticated('mallory@localhost');
    await mallory.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    expect((await mallory.waitFor(isSm('failed'))).getChild('item-not-found')).to.not.equal(undefined);

    const tooHigh = await b.ts.authenticated('bob@localhost');
    await tooHigh.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='7'/>`);
    // §5 treats <resume/>'s h as an <a/>'s: one too high ends the new stream with an error; the session stays for a correct resume.
    const streamError = await tooHigh.waitFor((e) => e.name === 'stream:error');
    expect(streamError.getChild('handled-count-too-high', NS_SM)?.attrs['send-count']).to.equal('0');
    expect(a.ts.server.sessions.get('bob@localhost/b')?.open).to.equal(true);

    // A node that stopped reading its inbox: no answer in time.
    const silent = new MemoryNodeBus('node-silent', hub);
    await silent.start();
    const forged = `${Buffer.from('node-silent').toString('base64url')}.${id.split('.')[1]}`;
    const late = await b.ts.authenticated('bob@localhost');
    await late.preBind(`<resume xmlns='${NS_SM}' previd='${forged}' h='0'/>`);
    expect((await late.waitFor(isSm('failed'))).getChild('item-not-found')).to.not.equal(undefined);
    await silent.stop();

    await a.bus.stop(); // node A gone
    const again = await b.ts.authenticated('bob@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    expect((await again.waitFor(isSm('failed'))).getChild('item-not-found')).to.not.equal(undefined);
  });
});
