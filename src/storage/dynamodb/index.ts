/**
 * DynamoDB backend: one DynamoDB table per logical table
 * (`<tablePrefix><name>`), key schema pk (HASH, S) + sk (RANGE, S), the value
 * in `v`, the expiry in `ttl` (epoch seconds, DynamoDB's TimeToLive
 * attribute). A partition is one item collection, so `range` is one Query.
 *
 * DynamoDB refuses empty strings in key attributes, so sort keys are stored
 * with a one-character prefix (`#`); a common prefix keeps the byte order.
 *
 * DynamoDB's TTL deletes expired items only eventually (often within hours;
 * DynamoDB Local never), so every read also filters on `ttl` and conditional
 * writes treat an expired item as absent.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  type AttributeValue,
  type QueryCommandInput,
} from '@aws-sdk/client-dynamodb';
import {
  assertTableName,
  RowTooLargeError,
  StoreUnavailableError,
  type BatchItem,
  type PutOptions,
  type RangeOptions,
  type Row,
  type StoreCapabilities,
  type TableSpec,
  type WideColumnStore,
} from '../wide-column.js';
import { isEmptyRange } from '../sort-key.js';
import { expiresAtFor, isExpired } from '../ttl.js';
import { ensureDynamoTable } from './tables.js';
import { writeBatches, type WriteRequestFor } from './batch-write.js';

export interface DynamoStoreConfig {
  /** e.g. `http://127.0.0.1:8000` for DynamoDB Local; omit for AWS. */
  endpoint?: string;
  region: string;
  /** Prepended to every logical table name, e.g. `sori_`. */
  tablePrefix: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** SDK attempts per request before an error surfaces (SDK default 3). */
  maxAttempts?: number;
}

type Item = Record<string, AttributeValue>;

const SK_PREFIX = '#';
/** Service errors that mean "try later", as opposed to a bad request. */
const TRANSIENT = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'LimitExceededException',
]);
/**
 * Bounds on one HTTP request. The SDK's defaults are no connect timeout and
 * five idle minutes per attempt: an endpoint that stops answering (a
 * blackholed route, a hung proxy) held each message's archive write for up to
 * fifteen minutes. A DynamoDB request takes milliseconds; the SDK retries
 * a timed-out attempt (maxAttempts), then the caller gets StoreUnavailableError.
 */
const CONNECT_TIMEOUT_MS = 3_000;
const REQUEST_TIMEOUT_MS = 5_000;
/** `ttl` is a DynamoDB reserved word, hence the placeholder. */
const LIVE_FILTER = 'attribute_not_exists(#ttl) OR #ttl > :now';

const storedSk = (sk: string): string => SK_PREFIX + sk;

/** DynamoDB's limits, in bytes of UTF-8 (KB is 1024 bytes): the item (attribute names plus values) and its two keys. */
const MAX_ITEM_BYTES = 400 * 1024;
const MAX_PK_BYTES = 2048;
const MAX_SK_BYTES = 1024;
/** The names pk, sk, v and ttl, and the largest a number can take (21 bytes). */
const ITEM_OVERHEAD = 'pkskvttl'.length + 21;

/**
 * Refuses a row DynamoDB would refuse, before anything is sent: the service
 * fails a whole BatchWriteItem for one such item (ValidationException), which
 * would take other callers' rows down with it. A stanza may be larger than an
 * item (c2s.maxStanzaSize counts characters, up to three UTF-8 bytes each),
 * and a bare JID (up to 2,047 bytes) longer than a sort key.
 */
function assertItemFits(table: string, pk: string, sk: string, value: string): void {
  // Three bytes per UTF-16 unit bound UTF-8: most rows pass without being measured.
  const skUnits = SK_PREFIX.length + sk.length;
  const small = pk.length * 3 <= MAX_PK_BYTES && skUnits * 3 <= MAX_SK_BYTES;
  if (small && (pk.length + skUnits + value.length) * 3 + ITEM_OVERHEAD <= MAX_ITEM_BYTES) return;
  const [pkBytes, skBytes] = [Buffer.byteLength(pk), Buffer.byteLength(sk) + SK_PREFIX.length];
  const refuse = (what: string, bytes: number, limit: number): never => {
    throw new RowTooLargeError(`dynamodb: a row of ${table} has ${what} of ${bytes} bytes, over DynamoDB's limit of ${limit}`);
  };
  if (pkBytes > MAX_PK_BYTES) refuse('a partition key', pkBytes, MAX_PK_BYTES);
  if (skBytes > MAX_SK_BYTES) refuse('a sort key', skBytes, MAX_SK_BYTES);
  const itemBytes = pkBytes + skBytes + Buffer.byteLength(value) + ITEM_OVERHEAD;
  if (itemBytes > MAX_ITEM_BYTES) refuse('a size', itemBytes, MAX_ITEM_BYTES);
}

function rowOf(item: Item): Row {
  const row: Row = { pk: item.pk!.S!, sk: item.sk!.S!.slice(SK_PREFIX.length), value: item.v!.S! };
  if (item.ttl?.N !== undefined) row.expiresAt = Number(item.ttl.N);
  return row;
}

function itemOf(pk: string, sk: string, value: string, ttlSeconds: number | undefined): Item {
  const item: Item = { pk: { S: pk }, sk: { S: storedSk(sk) }, v: { S: value } };
  const expiresAt = expiresAtFor(ttlSeconds);
  if (expiresAt !== undefined) item.ttl = { N: String(expiresAt) };
  return item;
}

const nowSeconds = (): AttributeValue => ({ N: String(Math.floor(Date.now() / 1000)) });

export class DynamoStore implements WideColumnStore {
  readonly name = 'dynamodb';
  readonly capabilities: StoreCapabilities = { ttl: true, compareAndSet: true, maxBatch: 25 };
  private readonly client: DynamoDBClient;

  constructor(private readonly config: DynamoStoreConfig) {
    this.client = new DynamoDBClient({
      region: config.region,
      ...(config.endpoint !== undefined && { endpoint: config.endpoint }),
      ...(config.credentials !== undefined && { credentials: config.credentials }),
      ...(config.maxAttempts !== undefined && { maxAttempts: config.maxAttempts }),
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
    });
  }

  private physical(table: string): string {
    return this.config.tablePrefix + table;
  }

  async ensureTables(specs: readonly TableSpec[]): Promise<void> {
    for (const s of specs) assertTableName(s.name);
    await this.guard(() => Promise.all(specs.map((s) => ensureDynamoTable(this.client, this.physical(s.name), s.ttl ?? false))));
  }

  async get(table: string, pk: string, sk: string): Promise<string | undefined> {
    const out = await this.guard(() =>
      this.client.send(new GetItemCommand({ TableName: this.physical(table), Key: this.key(pk, sk), ConsistentRead: true })),
    );
    if (out.Item === undefined) return undefined;
    const row = rowOf(out.Item);
    return isExpired(row.expiresAt) ? undefined : row.value;
  }

  async put(table: string, pk: string, sk: string, value: string, options?: PutOptions): Promise<boolean> {
    assertItemFits(table, pk, sk, value);
    const input = { TableName: this.physical(table), Item: itemOf(pk, sk, value, options?.ttlSeconds) };
    let condition: Partial<ConstructorParameters<typeof PutItemCommand>[0]> = {};
    if (options?.ifNotExists) {
      condition = {
        ConditionExpression: 'attribute_not_exists(pk) OR #ttl <= :now',
        ExpressionAttributeNames: { '#ttl': 'ttl' },
        ExpressionAttributeValues: { ':now': nowSeconds() },
      };
    } else if (options?.ifValue !== undefined) {
      condition = {
        ConditionExpression: `v = :old AND (${LIVE_FILTER})`,
        ExpressionAttributeNames: { '#ttl': 'ttl' },
        ExpressionAttributeValues: { ':old': { S: options.ifValue }, ':now': nowSeconds() },
      };
    }
    try {
      await this.guard(() => this.client.send(new PutItemCommand({ ...input, ...condition })));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async batchPut(items: readonly BatchItem[]): Promise<void> {
    for (const it of items) assertItemFits(it.table, it.pk, it.sk, it.value);
    const requests: WriteRequestFor[] = items.map((it) => ({
      table: this.physical(it.table),
      id: `${it.pk}\u0000${it.sk}`,
      request: { PutRequest: { Item: itemOf(it.pk, it.sk, it.value, it.ttlSeconds) } },
    }));
    await this.guard(() => writeBatches(this.client, requests));
  }

  async delete(table: string, pk: string, sk: string): Promise<void> {
    await this.guard(() => this.client.send(new DeleteItemCommand({ TableName: this.physical(table), Key: this.key(pk, sk) })));
  }

  async deletePartition(table: string, pk: string): Promise<void> {
    const tableName = this.physical(table);
    let start: Item | undefined;
    do {
      const page = await this.guard(() =>
        this.client.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': { S: pk } },
            ProjectionExpression: 'pk, sk',
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
      );
      const requests = (page.Items ?? []).map((key) => ({ table: tableName, id: key.sk!.S!, request: { DeleteRequest: { Key: key } } }));
      await this.guard(() => writeBatches(this.client, requests));
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
  }

  async range(table: string, pk: string, options: RangeOptions = {}): Promise<Row[]> {
    if (isEmptyRange(options)) return [];
    const { start, end } = options;
    const values: Item = { ':pk': { S: pk }, ':now': nowSeconds() };
    let keyCondition = 'pk = :pk';
    if (start !== undefined) values[':start'] = { S: storedSk(start) };
    if (end !== undefined) values[':end'] = { S: storedSk(end) };
    // One sort-key condition per Query: with two bounds, BETWEEN (inclusive) and drop equal bounds below.
    if (start !== undefined && end !== undefined) keyCondition += ' AND sk BETWEEN :start AND :end';
    else if (start !== undefined) keyCondition += options.startExclusive ? ' AND sk > :start' : ' AND sk >= :start';
    else if (end !== undefined) keyCondition += options.endExclusive ? ' AND sk < :end' : ' AND sk <= :end';
    const dropStart = start !== undefined && end !== undefined && options.startExclusive;
    const dropEnd = start !== undefined && end !== undefined && options.endExclusive;

    const limit = options.limit ?? Infinity;
    const input: QueryCommandInput = {
      TableName: this.physical(table),
      KeyConditionExpression: keyCondition,
      FilterExpression: LIVE_FILTER,
      ExpressionAttributeNames: { '#ttl': 'ttl' },
      ExpressionAttributeValues: values,
      ScanIndexForward: !options.reverse,
      ConsistentRead: true,
    };
    const out: Row[] = [];
    let startKey: Item | undefined;
    // Limit caps the items DynamoDB *reads*, before the TTL filter and the
    // dropped bounds; so ask for what is missing (plus the two bounds) and
    // keep paging until enough rows survived or the partition ends.
    do {
      const wanted = limit === Infinity ? undefined : Math.min(limit - out.length + 2, 1000);
      const page = await this.guard(() => this.client.send(new QueryCommand({ ...input, Limit: wanted, ExclusiveStartKey: startKey })));
      for (const item of page.Items ?? []) {
        const row = rowOf(item);
        if ((dropStart && row.sk === start) || (dropEnd && row.sk === end)) continue;
        out.push(row);
        if (out.length >= limit) return out;
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return out;
  }

  async *scan(table: string): AsyncIterable<Row> {
    let startKey: Item | undefined;
    do {
      const page = await this.guard(() =>
        this.client.send(
          new ScanCommand({
            TableName: this.physical(table),
            FilterExpression: LIVE_FILTER,
            ExpressionAttributeNames: { '#ttl': 'ttl' },
            ExpressionAttributeValues: { ':now': nowSeconds() },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      for (const item of page.Items ?? []) yield rowOf(item);
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private key(pk: string, sk: string): Item {
    return { pk: { S: pk }, sk: { S: storedSk(sk) } };
  }

  /**
   * Network failures (no service exception at all) and throttling/5xx become
   * StoreUnavailableError; request errors (validation, missing table,
   * failed conditions) pass through.
   */
  private async guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof DynamoDBServiceException && !TRANSIENT.has(err.name) && (err.$metadata.httpStatusCode ?? 400) < 500) throw err;
      if (err instanceof StoreUnavailableError) throw err;
      if (err instanceof Error && !(err instanceof DynamoDBServiceException) && isProgrammingError(err)) throw err;
      throw new StoreUnavailableError(`dynamodb${this.config.endpoint ? ` at ${this.config.endpoint}` : ''}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** Errors raised by our own code or the SDK's input checks, not by the network. */
function isProgrammingError(err: Error): boolean {
  return err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError || err.name === 'ValidationException';
}
