/**
 * Micro-benchmark of the Redis session table on the routing path: `byBare`
 * lookups from a node other than the writer, with the node-local cache off and
 * on. Starts its own redis-server (scripts/setup-redis.sh installs it).
 *
 *   npx tsx bench/cluster-session-table.ts [--accounts 2000] [--lookups 50000]
 */
import { parseArgs } from 'node:util';
import { RedisSessionTable } from '../src/cluster/redis/session-table.js';
import { redisService } from '../src/testing/services/redis.js';
import { stopAllServices } from '../src/testing/services/child-process.js';

const { values } = parseArgs({ options: { accounts: { type: 'string', default: '2000' }, lookups: { type: 'string', default: '50000' } } });
const accounts = Number(values.accounts);
const lookups = Number(values.lookups);

async function measure(cacheSize: number, url: string): Promise<void> {
  const writer = new RedisSessionTable({ nodeId: `writer-${cacheSize}`, redis: { urls: [url], cacheSize } });
  const reader = new RedisSessionTable({ nodeId: `reader-${cacheSize}`, redis: { urls: [url], cacheSize } });
  await writer.start();
  await reader.start();
  for (let i = 0; i < accounts; i++) {
    await writer.put({ jid: `bench${i}@example.com/r`, node: writer.nodeId, priority: 0, presence: '<presence/>' });
  }
  const started = process.hrtime.bigint();
  // Batches of 100 concurrent lookups, like a router serving many connections.
  for (let done = 0; done < lookups; done += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, k) => reader.byBare(`bench${(done + k) % accounts}@example.com`)));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `cacheSize=${cacheSize}: ${lookups} byBare in ${seconds.toFixed(2)} s = ${Math.round(lookups / seconds)}/s; ` +
      `cache hits ${reader.cache.hits}, misses ${reader.cache.misses}`,
  );
  await Promise.all([writer.stop(), reader.stop()]);
}

const redis = await redisService();
try {
  await measure(0, redis.url);
  await measure(accounts, redis.url);
} finally {
  await stopAllServices();
}
