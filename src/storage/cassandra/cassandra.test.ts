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
