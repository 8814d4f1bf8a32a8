/**
 * XEP-0313 archive micro-benchmark, on the store directly (no XMPP):
 *   - write throughput: messages/s appended to one archive (each append is
 *     one batchPut of 3 rows: mam, mam_by_with, mam_with_index), with
 *     `--concurrency` appends in flight as a busy server would have;
 *   - query latency: p50/p99 of one 50-message page in an archive of
 *     `--messages` messages: the newest page (RSM <before/>), a page after a
 *     random id (RSM <after>), and a page of one contact (`with` filter).
 *
 *   npx tsx bench/archive.ts [--messages 100000] [--queries 300] [--concurrency 32] [--backends memory,leveldb,dynamodb,cassandra]
 *
 * DynamoDB Local and Cassandra are started as in the tests (src/testing/services).
 * Not a test: it prints a table and exits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createStore, type StorageConfig } from '../src/storage/index.js';
import { Table, type WideColumnStore } from '../src/storage/wide-column.js';
import { stopAllServices } from '../src/testing/services/child-process.js';
import { cassandraService } from '../src/testing/services/cassandra.js';
import { dynamoLocalService } from '../src/testing/services/dynamodb-local.js';
import { ArchiveStore, MAM_TABLES } from '../src/xmpp/modules/xep-0313-mam/archive.js';
import { formatMs, summarize } from './stats.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '32' },
    backends: { type: 'string', default: 'memory,leveldb,dynamodb,cassandra' },
  },
});
const MESSAGES = Number(values.messages);
const QUERIES = Number(values.queries);
const CONCURRENCY = Number(values.concurrency);
const PAGE = 50;
const CONTACTS = 20;
const OWNER = 'owner@bench.example';

async function configFor(backend: string, dir: string): Promise<StorageConfig> {
  switch (backend) {
    case 'memory':
      return { backend: 'memory' };
    case 'leveldb':
      return { backend: 'leveldb', path: join(dir, 'db') };
    case 'dynamodb': {
      const d = await dynamoLocalService();
      return { backend: 'dynamodb', endpoint: d.endpoint, region: d.region, credentials: d.credentials, tablePrefix: `bench${Date.now()}_` };
    }
    case 'cassandra': {
      const c = await cassandraService();
      return { backend: 'cassandra', contactPoints: c.contactPoints, localDataCenter: c.localDataCenter, keyspace: `sori_bench_${Date.now()}` };
    }
    default:
      throw new Error(`unknown backend ${backend}`);
  }
}

function xmlOf(i: number, contact: string): string {
  return `<message xmlns='jabber:client' type='chat' from='${OWNER}/phone' to='${contact}' id='m${i}'><body>Message number ${i}: a line of chat of ordinary length, about eighty bytes.</body><origin-id xmlns='urn:xmpp:sid:0' id='o${i}'/></message>`;
}

interface Result {
  backend: string;
  writesPerSecond: number;
  last: ReturnType<typeof summarize>;
  after: ReturnType<typeof summarize>;
  withFilter: ReturnType<typeof summarize>;
}

async function timed(samples: number[], fn: () => Promise<unknown>): Promise<void> {
  const t = process.hrtime.bigint();
  await fn();
  samples.push(Number(process.hrtime.bigint() - t) / 1e6);
}

async function run(backend: string): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'sori-bench-archive-'));
  let store: WideColumnStore | undefined;
  try {
    store = await createStore(await configFor(backend, dir));
    await store.ensureTables(MAM_TABLES);
    const s = store;
    const archive = new ArchiveStore({ mam: new Table(s, 'mam'), byWith: new Table(s, 'mam_by_with'), withIndex: new Table(s, 'mam_with_index'), prefs: new Table(s, 'mam_prefs') }, 0);
    const ids: string[] = new Array(MESSAGES);
    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < MESSAGES; i = next++) {
          const contact = `contact${i % CONTACTS}@bench.example`;
          ids[i] = await archive.append(OWNER, { with: contact, peer: contact, dir: i % 2 ? 'in' : 'out', xml: xmlOf(i, contact) });
        }
      }),
    );
    const writeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    process.stderr.write(`${backend}: ${MESSAGES} messages written in ${writeSeconds.toFixed(1)} s\n`);

    const last: number[] = [];
    const after: number[] = [];
    const withFilter: number[] = [];
    for (let q = 0; q < QUERIES; q++) {
      await timed(last, async () => {
        const p = await archive.page(OWNER, { max: PAGE, reverse: true });
        if (p.items.length !== PAGE) throw new Error(`last page: ${p.items.length} items`);
      });
      const from = ids[Math.floor(Math.random() * (MESSAGES - 2 * PAGE))]!;
      await timed(after, async () => {
        const p = await archive.page(OWNER, { lower: { key: from, exclusive: true }, max: PAGE, reverse: false });
        if (p.items.length !== PAGE) throw new Error(`page after: ${p.items.length} items`);
      });
      await timed(withFilter, async () => {
        const p = await archive.page(OWNER, { with: `contact${q % CONTACTS}@bench.example`, max: PAGE, reverse: true });
        if (p.items.length !== Math.min(PAGE, Math.floor(MESSAGES / CONTACTS))) throw new Error(`with page: ${p.items.length} items`);
      });
    }
    return { backend, writesPerSecond: MESSAGES / writeSeconds, last: summarize([last]), after: summarize([after]), withFilter: summarize([withFilter]) };
  } finally {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const pair = (s: ReturnType<typeof summarize>) => `${formatMs(s.p50)} / ${formatMs(s.p99)}`;
const row = (r: Result) => `| ${r.backend} | ${Math.round(r.writesPerSecond).toLocaleString('en')} | ${pair(r.last)} | ${pair(r.after)} | ${pair(r.withFilter)} |`;

const results: Result[] = [];
for (const backend of values.backends.split(',')) {
  try {
    const r = await run(backend);
    results.push(r);
    // Printed as soon as a backend is done, so a long run that is cut short keeps its figures.
    process.stderr.write(`${row(r)}\n`);
  } catch (e) {
    process.stderr.write(`${backend}: failed: ${(e as Error).stack ?? String(e)}\n`);
  }
}
await stopAllServices();

console.log(`\nArchive of ${MESSAGES} messages (${CONTACTS} contacts), ${CONCURRENCY} appends in flight, ${QUERIES} queries of ${PAGE}-message pages; latency in ms\n`);
console.log('| backend | writes (msg/s) | newest page p50 / p99 | page after id p50 / p99 | one contact p50 / p99 |');
console.log('|---|---:|---:|---:|---:|');
for (const r of results) console.log(row(r));
