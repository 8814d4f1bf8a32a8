import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { runStoreContract } from '../contract.js';
import { cassandraService } from '../../testing/services/cassandra.js';
import { freePort } from '../../testing/services/child-process.js';
import { CassandraStore } from './index.js';

runStoreContract('cassandra', {
  startTimeoutMs: 180_000,
  open: async () => {
    const service = await cassandraService();
    // A fresh keyspace per run: the node is shared by every test file of the run.
    return new CassandraStore({ ...service, keyspace: `sori_test_${randomUUID().slice(0, 8)}` });
  },
  unreachable: async () =>
    new CassandraStore({ contactPoints: [`127.0.0.1:${await freePort()}`], localDataCenter: 'datacenter1', keyspace: 'sori' }),
});

describe('CassandraStore: batches over the 16 MiB request limit', function () {
  this.timeout(180_000);
  let store: CassandraStore;

  before(async () => {
    const service = await cassandraService();
    store = new CassandraStore({ ...service, keyspace: `sori_test_${randomUUID().slice(0, 8)}` });
    await store.ensureTables([{ name: 'mam' }]);
  });
  after(async () => {
    await store?.close();
  });

  it('writes a hundred 200 KB rows of one partition in one batchPut (copying an archive of pictures)', async () => {
    const pk = `big/${randomUUID()}`;
    const items = Array.from({ length: 100 }, (_, i) => ({ table: 'mam', pk, sk: `m${String(i).padStart(3, '0')}`, value: `${i}`.padEnd(200_000, 'x') }));
    await store.batchPut(items);
    const rows = await store.range('mam', pk);
    expect(rows.map((r) => r.value)).to.deep.equal(items.map((it) => it.value));
  });
});
