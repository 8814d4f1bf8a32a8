/**
 * Creating DynamoDB tables for sori's logical tables: on-demand capacity
 * (PAY_PER_REQUEST: no capacity planning, and a new server costs nothing
 * while idle), key schema pk HASH + sk RANGE, TimeToLive on `ttl` when the
 * table declares ttl.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';

const ACTIVE_TIMEOUT_MS = 120_000;

async function tableStatus(client: DynamoDBClient, name: string): Promise<string | undefined> {
  try {
    const out = await client.send(new DescribeTableCommand({ TableName: name }));
    return out.Table?.TableStatus;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return undefined;
    throw err;
  }
}

/** Polls DescribeTable (the SDK's waiter starts at 20 s between polls; a new table is often ACTIVE within a second). */
async function waitUntilActive(client: DynamoDBClient, name: string): Promise<void> {
  const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
    if ((await tableStatus(client, name)) === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`DynamoDB table ${name} not ACTIVE after ${ACTIVE_TIMEOUT_MS / 1000}s`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

async function enableTtl(client: DynamoDBClient, name: string): Promise<void> {
  const current = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
  const status = current.TimeToLiveDescription?.TimeToLiveStatus;
  if (status === 'ENABLED' || status === 'ENABLING') return;
  await client.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true } }));
}

/** Creates the table if missing (idempotent, safe when several nodes race), waits for ACTIVE, enables TTL. */
export async function ensureDynamoTable(client: DynamoDBClient, name: string, ttl: boolean): Promise<void> {
  if ((await tableStatus(client, name)) === undefined) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
        }),
      );
    } catch (err) {
      if (!(err instanceof ResourceInUseException)) throw err; // another node created it first
    }
  }
  await waitUntilActive(client, name);
  if (ttl) await enableTtl(client, name);
}
