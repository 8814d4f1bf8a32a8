/**
 * BatchWriteItem in chunks of 25 (DynamoDB's limit), retrying the items
 * DynamoDB returns as unprocessed (throttled partitions) with exponential
 * backoff and jitter.
 */
import { BatchWriteItemCommand, type DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';

export interface WriteRequestFor {
  /** Physical table name. */
  table: string;
  /** Identifies the item within its table: a batch may not name one item twice. */
  id: string;
  request: WriteRequest;
}

const CHUNK = 25;
const MAX_ROUNDS = 10;

/** Keeps the last request for each item, in order: later writes win, as they would one by one. */
function lastPerItem(requests: readonly WriteRequestFor[]): WriteRequestFor[] {
  const byKey = new Map<string, WriteRequestFor>();
  for (const r of requests) {
    const key = `${r.table}\u0000${r.id}`;
    byKey.delete(key);
    byKey.set(key, r);
  }
  return [...byKey.values()];
}

function group(requests: readonly WriteRequestFor[]): Record<string, WriteRequest[]> {
  const out: Record<string, WriteRequest[]> = {};
  for (const r of requests) (out[r.table] ??= []).push(r.request);
  return out;
}

async function writeChunk(client: DynamoDBClient, chunk: readonly WriteRequestFor[]): Promise<void> {
  let pending: Record<string, WriteRequest[]> = group(chunk);
  for (let round = 0; ; round++) {
    const out = await client.send(new BatchWriteItemCommand({ RequestItems: pending }));
    const left = out.UnprocessedItems ?? {};
    if (Object.values(left).every((reqs) => reqs.length === 0)) return;
    if (round >= MAX_ROUNDS) throw new Error(`DynamoDB left ${Object.values(left).flat().length} items unprocessed after ${MAX_ROUNDS} retries`);
    await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** round, 5000) * (0.5 + Math.random() / 2)));
    pending = left;
  }
}

export async function writeBatches(client: DynamoDBClient, requests: readonly WriteRequestFor[]): Promise<void> {
  const unique = lastPerItem(requests);
  for (let i = 0; i < unique.length; i += CHUNK) await writeChunk(client, unique.slice(i, i + CHUNK));
}
