import { expect } from 'chai';
import { eventually } from '../../testing/eventually.js';
import { privateRedis, type PrivateRedis } from '../../testing/services/redis.js';
import { connectRedis, redisUnreachable, whenReady, RedisUnreachableError, type RedisClient } from './connection.js';
import { nodeInboxKey } from './keys.js';
import { RedisNodeBus } from './node-bus.js';
import { RedisSessionTable } from './session-table.js';

/** Rejects with what the command failed with; fails the test if it succeeded. */
async function failure(command: Promise<unknown>): Promise<Error> {
  try {
    await command;
  } catch (err) {
    if (err instanceof Error) return err;
    throw err;
  }
  throw new Error('the command succeeded');
}

describe('Redis connections when Redis goes away', function () {
  this.timeout(30_000);
  let redis: PrivateRedis;
  const clients: RedisClient[] = [];
  const stoppers: Array<() => Promise<void>> = [];

  beforeEach(async function () {
    redis = await privateRedis();
  });
  afterEach(async function () {
    redis.resume();
    for (const stop of stoppers.splice(0).reverse()) await stop();
    for (const c of clients.splice(0)) c.disconnect();
    await redis.stop();
  });

  function connect(waitMs: number): RedisClient {
    const client = connectRedis({ urls: [redis.url], cluster: false }, 'test', { waitMs });
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  }

  it('fails commands after the wait while Redis does not answer, then at once, and serves again once it answers', async function () {
    const client = connect(300);
    await whenReady(client);
    await client.set('k', 'v');
    redis.pause();
    // Sent on a connection that stays open: only the wait ends it.
    await failure(client.get('k'));
    // The connection that stopped answering is dropped; once it has been down for the wait, commands fail at once.
    await eventually(() => expect(redisUnreachable(client)).to.equal(true));
    const err = await failure(client.get('k'));
    expect(err).to.be.instanceOf(RedisUnreachableError);
    redis.resume();
    await eventually(async () => expect(await client.get('k')).to.equal('v'), 15_000);
    expect(redisUnreachable(client)).to.equal(false);
  });

  it('fails commands queued while Redis is down after the wait, then at once, and serves a restarted Redis', async function () {
    const client = connect(300);
    await whenReady(client);
    await redis.kill();
    await failure(client.set('k', 'queued'));
    await eventually(() => expect(redisUnreachable(client)).to.equal(true));
    expect(await failure(client.get('k'))).to.be.instanceOf(RedisUnreachableError);
    await redis.start();
    await eventually(async () => expect(await client.set('k', 'later')).to.equal('OK'), 15_000);
    // The write that failed its wait was dropped or ran before this one; either way it is not the value now.
    expect(await client.get('k')).to.equal('later');
  });

  it('keeps a node-bus send that failed on its wait from reaching the inbox once Redis answers again', async function () {
    // Long liveness: the receiver must still count as alive when Redis answers again, so that only the send's deadline can stop it.
    const options = { urls: [redis.url], cluster: false, aliveTtlMs: 30_000, heartbeatMs: 1000, deadCheckMs: 1000, waitMs: 400 };
    const table = new RedisSessionTable({ nodeId: 'b', redis: options });
    await table.start();
    stoppers.push(() => table.stop());
    const receiver = new RedisNodeBus({ nodeId: 'b', redis: options, blockMs: 200 });
    const received: string[] = [];
    receiver.onMessage((payload) => {
      received.push(payload);
    });
    await receiver.start();
    stoppers.push(() => receiver.stop());
    const sender = new RedisNodeBus({ nodeId: 'a', redis: options });
    await sender.start();
    stoppers.push(() => sender.stop());
    expect(await sender.send('b', 'before')).to.equal(true);
    await eventually(() => expect(received).to.deep.equal(['before']));

    redis.pause();
    // The first is written to the open connection, the second waits in ioredis's queue once that connection is dropped:
    // both reach Redis when it answers again, after their senders gave up on them.
    const inFlight = failure(sender.send('b', 'in flight'));
    await new Promise((r) => setTimeout(r, 450));
    const queued = failure(sender.send('b', 'queued'));
    await inFlight;
    await queued;
    redis.resume();
    // The sender's connection comes back on its own; until it has, sends fail at once.
    let attempt = 0;
    await eventually(async () => expect(await sender.send('b', `after ${++attempt}`)).to.equal(true), 15_000, 100);
    await eventually(() => expect(received).to.include(`after ${attempt}`), 15_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(received.filter((p) => p === 'in flight' || p === 'queued')).to.deep.equal([]);
    const probe = connect(5000);
    expect(await probe.xlen(nodeInboxKey('b'))).to.equal(0);
  });
});
