/**
 * DynamoDB Local for tests, started once per mocha run. The jar ships inside
 * the npm package amplify-dynamodb-simulator (its emulator/ folder; the
 * package's own entry point is not importable, so only the files are used).
 * In-memory, on a free loopback port, killed with the test run.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, spawnTracked, tcpReady, waitUntilReady } from './child-process.js';

export interface DynamoLocalService {
  endpoint: string;
  region: string;
  /** DynamoDB Local accepts any credentials; the SDK still wants some. */
  credentials: { accessKeyId: string; secretAccessKey: string };
}

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const emulatorDir = join(repoRoot, 'node_modules/amplify-dynamodb-simulator/emulator');

async function start(): Promise<DynamoLocalService> {
  if (!existsSync(join(emulatorDir, 'DynamoDBLocal.jar'))) {
    throw new Error(`DynamoDBLocal.jar not found in ${emulatorDir}: run scripts/setup-dynamodb.sh (npm install)`);
  }
  const port = await freePort();
  const args = [
    '-Xmx512m',
    '-Djava.library.path=./DynamoDBLocal_lib',
    '-jar',
    'DynamoDBLocal.jar',
    '-inMemory',
    '-port',
    String(port),
    '-disableTelemetry',
  ];
  const started = spawnTracked('java', args, { cwd: emulatorDir });
  await waitUntilReady('DynamoDB Local', started, tcpReady(port), 60_000);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
}

let running: Promise<DynamoLocalService> | undefined;

/** Starts DynamoDB Local on first call; later calls share the same instance. */
export function dynamoLocalService(): Promise<DynamoLocalService> {
  running ??= start().catch((err: unknown) => {
    running = undefined;
    throw err;
  });
  return running;
}
