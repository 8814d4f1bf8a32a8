/**
 * A real single-node Apache Cassandra 5.0 for tests, started once per mocha
 * run from the jars that scripts/setup-cassandra.sh puts in
 * .cache/cassandra/lib. Data lives in a temp dir, ports are free loopback
 * ports, and the JVM dies with the test run.
 */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, removeOnExit, spawnTracked, tcpReady, waitUntilReady } from './child-process.js';

export interface CassandraService {
  contactPoints: string[];
  localDataCenter: string;
  port: number;
}

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const libDir = join(repoRoot, '.cache/cassandra/lib');
const DATA_CENTER = 'datacenter1';

/** From Cassandra's conf/jvm17-server.options: the module system openings Cassandra needs on Java 17. */
const JVM17_FLAGS = [
  '-Djdk.attach.allowAttachSelf=true',
  ...[
    'java.base/jdk.internal.misc',
    'java.management.rmi/com.sun.jmx.remote.internal.rmi',
    'java.rmi/sun.rmi.registry',
    'java.rmi/sun.rmi.server',
    'java.sql/java.sql',
    'java.base/java.lang.ref',
    'jdk.unsupported/sun.misc',
    'jdk.compiler/com.sun.tools.javac.file',
    'jdk.attach/sun.tools.attach',
  ].map((m) => `--add-exports=${m}=ALL-UNNAMED`),
  ...[
    'java.base/java.lang.module',
    'java.base/jdk.internal.loader',
    'java.base/jdk.internal.ref',
    'java.base/jdk.internal.reflect',
    'java.base/jdk.internal.math',
    'java.base/jdk.internal.module',
    'java.base/jdk.internal.util.jar',
    'jdk.management/com.sun.management.internal',
    'java.base/sun.nio.ch',
    'java.base/java.io',
    'java.base/java.lang.reflect',
    'jdk.compiler/com.sun.tools.javac',
    'java.base/java.lang',
    'java.base/java.util',
  ].map((m) => `--add-opens=${m}=ALL-UNNAMED`),
  '-Dio.netty.tryReflectionSetAccessible=true',
];

/** Properties that cut a single node's startup from ~60 s to a few seconds: no ring to wait for. */
const FAST_START_FLAGS = [
  '-Dcassandra-foreground=true',
  '-Dcassandra.skip_wait_for_gossip_to_settle=0',
  '-Dcassandra.ring_delay_ms=0',
  '-Dcassandra.load_ring_state=false',
  '-Dcassandra.superuser_setup_delay_ms=0',
  '-Dcassandra.initial_token=0',
];

function yaml(dir: string, nativePort: number, storagePort: number): string {
  return `cluster_name: sori-test
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:${storagePort}"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: ${storagePort}
native_transport_port: ${nativePort}
start_native_transport: true
data_file_directories: [${join(dir, 'data')}]
commitlog_directory: ${join(dir, 'commitlog')}
saved_caches_directory: ${join(dir, 'saved_caches')}
hints_directory: ${join(dir, 'hints')}
cdc_raw_directory: ${join(dir, 'cdc_raw')}
commitlog_sync: periodic
commitlog_sync_period: 10000ms
disk_failure_policy: stop
commit_failure_policy: stop
concurrent_reads: 4
concurrent_writes: 4
concurrent_compactors: 1
auto_snapshot: false
dynamic_snitch: false
`;
}

const LOGBACK = `<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level %logger{0} - %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="STDOUT"/></root>
</configuration>
`;

async function start(): Promise<CassandraService> {
  if (!existsSync(libDir) || !readdirSync(libDir).some((f) => f.startsWith('cassandra-all-'))) {
    throw new Error(`Cassandra jars not found in ${libDir}: run scripts/setup-cassandra.sh`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'sori-cassandra-'));
  removeOnExit(dir);
  const [nativePort, storagePort] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'cassandra.yaml'), yaml(dir, nativePort, storagePort));
  writeFileSync(join(dir, 'logback.xml'), LOGBACK);
  const args = [
    '-Xms512m',
    '-Xmx1g',
    '-XX:+UseSerialGC',
    '-Xss512k',
    ...JVM17_FLAGS,
    ...FAST_START_FLAGS,
    `-Dcassandra.config=file://${join(dir, 'cassandra.yaml')}`,
    `-Dcassandra.storagedir=${dir}`,
    `-Dcassandra.logdir=${dir}`,
    `-Dlogback.configurationFile=${join(dir, 'logback.xml')}`,
    '-cp',
    join(libDir, '*'),
    'org.apache.cassandra.service.CassandraDaemon',
  ];
  const started = spawnTracked('java', args, { cwd: dir });
  await waitUntilReady('Cassandra', started, tcpReady(nativePort), 150_000);
  return { contactPoints: [`127.0.0.1:${nativePort}`], localDataCenter: DATA_CENTER, port: nativePort };
}

let running: Promise<CassandraService> | undefined;

/** Starts Cassandra on first call; later calls share the same node. */
export function cassandraService(): Promise<CassandraService> {
  running ??= start().catch((err: unknown) => {
    running = undefined;
    throw err;
  });
  return running;
}
