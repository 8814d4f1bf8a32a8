import { expect } from 'chai';
import { eventually, nextMatching } from '../../testing/eventually.js';
import { redisTargets } from '../../testing/redis-cluster-nodes.js';
import { testNodesOn } from '../../testing/redis-test-nodes.js';
import type { Logger } from '../../util/log.js';
import type { SessionTableEvent } from '../session-table.js';
import type { RedisClient } from './connection.js';
import { nodeInboxKey } from './keys.js';

/** Closes, on every Redis server, the connections with this client name (CLIENT KILL), as a network failure would. */
async function killClients(probe: RedisClient, name: string): Promise<void> {
  const servers = 'nodes' in probe ? probe.nodes('master') : [probe];
  let killed = 0;
  for (const server of servers) {
    const list = String(await server.client('LIST'));
    for (const line of list.split('\n')) {
      const id = /^id=(\d+) .* name=(\S*)/.exec(line);
      if (id !== null && id[2] === name) killed += Number(await server.client('KILL', 'ID', id[1]!));
    }
  }
  expect(killed, `connections named ${name}`).to.be.greaterThan(0);
}

/** Resolves once a connection with this client name is blocked in a command (CLIENT LIST flag b) on some Redis server. */
async function blockedClient(probe: RedisClient, name: string): Promise<void> {
  await eventually(async () => {
    // Inside: a Redis Cluster client lists its servers once it has connected.
    const servers = 'nodes' in probe ? probe.nodes('master') : [probe];
    const lines = (await Promise.all(servers.map(async (server) => String(await server.client('LIST')).split('\n')))).flat();
    expect(lines.some((line) => line.includes(` name=${name} `) && /flags=\S*b/.test(line))).to.equal(true);
  });
}

/** A logger keeping the warnings it is given, with their arguments (an error among them is logged with its stack). */
function warningRecorder(): Logger & { warnings: unknown[][] } {
  const warnings: unknown[][] = [];
  const ignore = (): void => undefined;
  const log = { warnings, debug: ignore, info: ignore, error: ignore, warn: (msg: string, ...args: unknown[]) => void warnings.push([msg, ...args]), child: () => log };
  return log;
}

for (const target of redisTargets) {
  describe(`RedisNodeBus on ${target.name}`, function () {
    this.timeout(60_000);
    const { nodes } = testNodesOn(target);
    beforeEach(async function () {
      await nodes.flush();
    });

    it('delivers payloads from one node to another in send order, with the sender id', async function () {
      const a = nodes.node('a');
      const b = nodes.node('b');
      const received: Array<[string, string]> = [];
      b.bus.onMessage((payload, from) => {
        received.push([payload, from]);
      });
      await a.start();
      await b.start();
      const payloads = Array.from({ length: 300 }, (_, i) => `<message id="m${i}"><body>${i} &lt;é&gt;</body></message>`);
      const accepted = await Promise.all(payloads.map((p) => a.bus.send('b', p)));
      expect(accepted.every((ok) => ok)).to.equal(true);
      await eventually(() => expect(received).to.have.length(300));
      expect(received).to.deep.equal(payloads.map((p) => [p, 'a']));
    });

    it('waits for an asynchronous handler before handing over the next payload', async function () {
      const a = nodes.node('a');
      const b = nodes.node('b');
      const log: string[] = [];
      b.bus.onMessage(async (payload) => {
        log.push(`start ${payload}`);
        await new Promise((r) => setTimeout(r, 5));
        log.push(`end ${payload}`);
      });
      await a.start();
      await b.start();
      await a.bus.send('b', 'one');
      await a.bus.send('b', 'two');
      await eventually(() => expect(log).to.deep.equal(['start one', 'end one', 'start two', 'end two']));
    });

    it('refuses to send to a node that is not alive', async function () {
      const a = nodes.node('a');
      await a.start();
      expect(await a.bus.send('nobody', '<message/>')).to.equal(false);
      expect(await nodes.probe().exists(nodeInboxKey('nobody'))).to.equal(0);
    });

    it('delivers what arrived while the reader was stopped to its next run', async function () {
      const a = nodes.node('a');
      await a.start();
      const bTable = await nodes.table('b');
      const firstReader = nodes.bus('b');
      await firstReader.start();
      await firstReader.stop();
      for (const p of ['1', '2', '3']) expect(await a.bus.send('b', p)).to.equal(true);

      const secondReader = nodes.bus('b');
      const received: string[] = [];
      secondReader.onMessage((payload) => {
        received.push(payload);
      });
      await secondReader.start();
      await eventually(() => expect(received).to.deep.equal(['1', '2', '3']));
      expect(bTable.nodeId).to.equal('b');
    });

    it('delivers entries whose read answer was lost once its reader connects again', async function () {
      const a = nodes.node('a');
      const b = nodes.node('b');
      const received: string[] = [];
      b.bus.onMessage((payload) => {
        received.push(payload);
      });
      await a.start();
      await b.start();
      expect(await a.bus.send('b', 'before')).to.equal(true);
      await eventually(() => expect(received).to.deep.equal(['before']));
      // A read that reached Redis but whose answer never reached b: the entry is pending for consumer b, which
      // has not seen it. (One transaction, so b's own waiting read cannot take the entry first.)
      const probe = nodes.probe();
      const lost = await probe.multi()
        .xadd(nodeInboxKey('b'), '*', 'from', 'a', 'p', 'lost on the way')
        .xreadgroup('GROUP', 'sori', 'b', 'COUNT', 10, 'STREAMS', nodeInboxKey('b'), '>')
        .exec();
      expect(JSON.stringify(lost)).to.include('lost on the way');
      await new Promise((r) => setTimeout(r, 300));
      expect(received).to.deep.equal(['before']);
      // The connection drops, as when the answer was lost with it.
      await killClients(probe, 'sori-inbox-b');
      await eventually(() => expect(received).to.deep.equal(['before', 'lost on the way']));
      expect(await a.bus.send('b', 'after')).to.equal(true);
      await eventually(() => expect(received).to.deep.equal(['before', 'lost on the way', 'after']));
    });

    it('hands a dead node\'s unread inbox to the node that claimed it, and then treats the node as gone', async function () {
      const a = nodes.node('a');
      const orphans: Array<[string, string]> = [];
      a.bus.onOrphaned((payload, deadNode) => {
        orphans.push([payload, deadNode]);
      });
      const deadEvent = nextMatching<SessionTableEvent>((cb) => a.sessions.onEvent(cb), (e) => e.type === 'node-dead', 'node-dead on a');
      await a.start();
      const b = nodes.node('b');
      await b.start();
      // B stops reading, then hangs: what was sent to it is never handled there.
      await b.bus.stop();
      for (const p of ['x', 'y', 'z']) expect(await a.bus.send('b', p)).to.equal(true);
      await b.sessions.liveness.stop(false);

      const event = await deadEvent;
      expect(event).to.deep.include({ node: 'b' });
      // Reclaiming runs before node-dead is emitted.
      expect(orphans).to.deep.equal([['x', 'b'], ['y', 'b'], ['z', 'b']]);
      expect(await nodes.probe().exists(nodeInboxKey('b'))).to.equal(0);
      expect(await a.bus.send('b', 'late')).to.equal(false);
    });

    it('keeps an entry its handler holds until it settles, without holding up the entries behind it', async function () {
      const a = nodes.node('a');
      const b = nodes.node('b');
      let settle = (): void => undefined;
      const settled = new Promise<void>((resolve) => (settle = resolve));
      const received: string[] = [];
      b.bus.onMessage((payload) => {
        received.push(payload);
        return payload === 'held' ? { settled } : undefined;
      });
      await a.start();
      await b.start();
      for (const p of ['held', 'next', 'last']) await a.bus.send('b', p);
      await eventually(() => expect(received).to.deep.equal(['held', 'next', 'last']));
      const inbox = nodeInboxKey('b');
      await eventually(async () => expect(await nodes.probe().xlen(inbox)).to.equal(1));
      settle();
      await eventually(async () => expect(await nodes.probe().xlen(inbox)).to.equal(0));
    });

    it('hands an entry still held when its node dies to the node that reclaims it', async function () {
      const a = nodes.node('a');
      const orphans: string[] = [];
      a.bus.onOrphaned((payload) => {
        orphans.push(payload);
      });
      const deadEvent = nextMatching<SessionTableEvent>((cb) => a.sessions.onEvent(cb), (e) => e.type === 'node-dead', 'node-dead on a');
      await a.start();
      const b = nodes.node('b');
      const received: string[] = [];
      // 'unacked' was written to a client that never acknowledged it.
      b.bus.onMessage((payload) => {
        received.push(payload);
        return payload === 'unacked' ? { settled: new Promise<void>(() => undefined) } : undefined;
      });
      await b.start();
      for (const p of ['acked', 'unacked', 'acked too']) await a.bus.send('b', p);
      await eventually(() => expect(received).to.have.length(3));
      await eventually(async () => expect(await nodes.probe().xlen(nodeInboxKey('b'))).to.equal(1));
      await b.bus.stop();
      await b.sessions.liveness.stop(false);

      await deadEvent;
      expect(orphans).to.deep.equal(['unacked']);
    });

    it('after a restart hands each entry an earlier run still held over once, then new ones', async function () {
      const a = nodes.node('a');
      await a.start();
      await nodes.table('b');
      const firstReader = nodes.bus('b');
      let firstCount = 0;
      firstReader.onMessage(() => {
        firstCount++;
        return { settled: new Promise<void>(() => undefined) };
      });
      await firstReader.start();
      // More than one read's worth, so the re-read must page past entries that stay pending.
      const held = Array.from({ length: 250 }, (_, i) => `h${i}`);
      for (const p of held) await a.bus.send('b', p);
      await eventually(() => expect(firstCount).to.equal(held.length));
      await firstReader.stop();

      const secondReader = nodes.bus('b');
      const received: string[] = [];
      secondReader.onMessage((payload) => {
        received.push(payload);
        return payload.startsWith('h') ? { settled: new Promise<void>(() => undefined) } : undefined;
      });
      await secondReader.start();
      await a.bus.send('b', 'new');
      await eventually(() => expect(received).to.have.length(held.length + 1));
      await new Promise((r) => setTimeout(r, 300));
      expect(received).to.deep.equal([...held, 'new']);
    });

    it('keeps reading its inbox once the inbox is deleted under its waiting read, and says so in one warning', async function () {
      const a = nodes.node('a');
      await a.start();
      await nodes.table('b');
      const log = warningRecorder();
      const b = nodes.bus('b', log);
      const received: string[] = [];
      b.onMessage((payload) => {
        received.push(payload);
      });
      await b.start();
      expect(await a.bus.send('b', 'before')).to.equal(true);
      await eventually(() => expect(received).to.deep.equal(['before']));
      // b's read waits on its inbox, which goes as when a survivor reclaims it (or FLUSHALL): Redis ends the read.
      const probe = nodes.probe();
      await blockedClient(probe, 'sori-inbox-b');
      await probe.del(nodeInboxKey('b'));
      await eventually(() => expect(log.warnings).to.have.length(1));
      expect(await a.bus.send('b', 'after')).to.equal(true);
      await eventually(() => expect(received).to.deep.equal(['before', 'after']));
      // What happened, without a stack trace as if Redis had failed.
      expect(log.warnings).to.deep.equal([[
        'inbox deleted while this node read it (another node declared this one dead and reclaimed it, or Redis was emptied); reading it afresh',
      ]]);
    });

    it('delivers what was sent to a deleted inbox before its reader made the inbox again', async function () {
      const a = nodes.node('a');
      const b = nodes.node('b');
      const received: string[] = [];
      b.bus.onMessage((payload) => {
        received.push(payload);
      });
      await a.start();
      await b.start();
      expect(await a.bus.send('b', 'before')).to.equal(true);
      await eventually(() => expect(received).to.deep.equal(['before']));
      // One transaction, so the entry lands in a stream made without b's group before b reads again.
      const inbox = nodeInboxKey('b');
      await nodes.probe().multi().del(inbox).xadd(inbox, '*', 'from', 'a', 'p', 'right after').exec();
      await eventually(() => expect(received).to.deep.equal(['before', 'right after']));
      expect(await a.bus.send('b', 'later')).to.equal(true);
      await eventually(() => expect(received).to.deep.equal(['before', 'right after', 'later']));
    });

    it('receives again on a node declared dead while it was only paused, once it is back', async function () {
      const a = nodes.node('a');
      const deadEvent = nextMatching<SessionTableEvent>((cb) => a.sessions.onEvent(cb), (e) => e.type === 'node-dead', 'node-dead on a');
      await a.start();
      const b = nodes.node('b');
      const received: string[] = [];
      b.bus.onMessage((payload) => {
        received.push(payload);
      });
      await b.start();
      // b's heartbeat stops while its reader goes on: a declares it dead and deletes its inbox under that read.
      await b.sessions.liveness.stop(false);
      await deadEvent;
      expect(await a.bus.send('b', 'while dead')).to.equal(false);
      b.sessions.liveness.startTimers();
      await eventually(async () => expect(await a.bus.send('b', 'back')).to.equal(true));
      await eventually(() => expect(received).to.deep.equal(['back']));
    });

    it('delivers a node\'s messages to itself through its own inbox', async function () {
      const a = nodes.node('a');
      const received: string[] = [];
      a.bus.onMessage((payload) => {
        received.push(payload);
      });
      await a.start();
      expect(await a.bus.send('a', 'loop')).to.equal(true);
      await eventually(() => expect(received).to.deep.equal(['loop']));
    });
  });
}
