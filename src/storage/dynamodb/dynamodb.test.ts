import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { runStoreContract } from '../contract.js';
import { dynamoLocalService } from '../../testing/services/dynamodb-local.js';
import { freePort } from '../../testing/services/child-process.js';
import { CoalescingStore } from '../coalescing.js';
import { copyStore } from '../copy.js';
import { MemoryStore } from '../memory/index.js';
import { RowTooLargeError, StoreUnavailableError } from '../wide-column.js';
import { DynamoStore } from './index.js';

runStoreContract('dynamodb (DynamoDB Local)', {
  startTimeoutMs: 90_000,
  open: async () => {
    const service = await dynamoLocalService();
    // A fresh prefix per run: DynamoDB Local is shared by every test file of the run.
    return new DynamoStore({ ...service, tablePrefix: `t${randomUUID().slice(0, 8)}_` });
  },
  unreachable: async () =>
    new DynamoStore({
      endpoint: `http://127.0.0.1:${await freePort()}`,
      region: 'us-east-1',
      tablePrefix: 'sori_',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      maxAttempts: 1,
    }),
});

describe('DynamoStore: rows over the 400 KB item limit (DynamoDB Local)', function () {
  this.timeout(90_000);
  let store: DynamoStore;
  /** 140,000 CJK characters: fewer than c2s.maxStanzaSize, ~420 KB of UTF-8. */
  const tooLarge = '<body>' + '中'.repeat(140_000) + '</body>';

  before(async () => {
    const service = await dynamoLocalService();
    store = new DynamoStore({ ...service, tablePrefix: `t${randomUUID().slice(0, 8)}_` });
    await store.ensureTables([{ name: 'mam' }]);
  });
  after(async () => {
    await store?.close();
  });

  it('refuses such a row with RowTooLargeError and stores one just under the limit', async () => {
    const pk = `big/${randomUUID()}`;
    let error: unknown;
    await store.put('mam', pk, 'a', tooLarge).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(RowTooLargeError);
    await store.batchPut([{ table: 'mam', pk, sk: 'b', value: tooLarge }]).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(RowTooLargeError);
    const justUnder = 'x'.repeat(400 * 1024 - 200);
    await store.batchPut([{ table: 'mam', pk, sk: 'c', value: justUnder, ttlSeconds: 3600 }]);
    expect(await store.get('mam', pk, 'c')).to.equal(justUnder);
  });

  it("one user's oversized message does not fail other users' rows batched with it", async () => {
    const coalescing = new CoalescingStore(store);
    const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((u) => `${u}/${randomUUID()}`) as [string, string, string, string];
    // A bare JID may have 1,023 bytes of localpart: as a sort key (mam_with_index) it is over DynamoDB's 1,024 bytes.
    const longJid = `${'l'.repeat(1023)}@example.org`;
    const results = await Promise.allSettled([
      coalescing.batchPut([{ table: 'mam', pk: alice, sk: '1', value: '<body>hello</body>' }]),
      coalescing.batchPut([{ table: 'mam', pk: bob, sk: '1', value: tooLarge }]),
      coalescing.batchPut([{ table: 'mam', pk: carol, sk: '1', value: '<body>hi</body>' }]),
      coalescing.batchPut([{ table: 'mam', pk: dave, sk: longJid, value: '' }]),
    ]);
    expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    expect((results[3] as PromiseRejectedResult).reason).to.be.instanceOf(RowTooLargeError);
    expect(await store.get('mam', alice, '1')).to.equal('<body>hello</body>');
    expect(await store.get('mam', carol, '1')).to.equal('<body>hi</body>');
  });
});

describe('copyStore to DynamoDB (DynamoDB Local)', function () {
  this.timeout(90_000);

  it('copies an archive holding a message over the item limit: the other rows are written, that one is listed as refused', async () => {
    const service = await dynamoLocalService();
    const target = new DynamoStore({ ...service, tablePrefix: `t${randomUUID().slice(0, 8)}_` });
    const source = new MemoryStore();
    const tables = [{ name: 'mam' }];
    await source.ensureTables(tables);
    const huge = '<body>' + '中'.repeat(140_000) + '</body>';
    const rows = Array.from({ length: 40 }, (_, i) => ({ table: 'mam', pk: `user${i % 2}`, sk: `m${String(i).padStart(2, '0')}`, value: i === 7 ? huge : `<body>${i}</body>` }));
    await source.batchPut(rows);
    try {
      const result = await copyStore(source, target, tables);
      expect(result.refused.map(({ table, pk, sk }) => ({ table, pk, sk }))).to.deep.equal([{ table: 'mam', pk: 'user1', sk: 'm07' }]);
      expect(result.tables.mam).to.deep.equal({ copied: 39, source: 40, target: 39, refused: 1 });
      expect(result.mismatched).to.deep.equal([]);
      expect((await target.range('mam', 'user1')).map((r) => r.sk)).to.have.length(19).and.not.include('m07');
    } finally {
      await target.close();
    }
  });
});

describe('DynamoStore: an endpoint that accepts connections and never answers', function () {
  this.timeout(30_000);
  let silent: Server;
  const sockets = new Set<Socket>();

  before(async () => {
    // What a blackholed VPC endpoint or a hung load balancer looks like: TCP works, nothing comes back.
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('fails a read with StoreUnavailableError within seconds instead of hanging for minutes', async () => {
    const { port } = silent.address() as AddressInfo;
    const store = new DynamoStore({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      tablePrefix: 'sori_',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      maxAttempts: 1,
    });
    const started = Date.now();
    let error: unknown;
    await store.get('main', 'p', 's').catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(StoreUnavailableError);
    expect(Date.now() - started).to.be.below(15_000);
    await store.close();
  });
});
