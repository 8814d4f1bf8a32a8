import { randomUUID } from 'node:crypto';
import { runStoreContract } from '../contract.js';
import { dynamoLocalService } from '../../testing/services/dynamodb-local.js';
import { freePort } from '../../testing/services/child-process.js';
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
