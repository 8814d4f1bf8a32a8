/**
 * The composition root's one entry into storage: a config names a backend,
 * `createStore` returns it behind the WideColumnStore interface. Nothing
 * outside src/storage/ names a backend class.
 */
import type { Replication } from './cassandra/cql.js';
import type { WideColumnStore } from './wide-column.js';

export type StorageConfig =
  /** Nothing survives a restart: tests and throwaway servers. */
  | { backend: 'memory' }
  /** The embedded default: one directory on local disk, one process. */
  | { backend: 'leveldb'; path: string; purgeIntervalMs?: number; cacheBytes?: number }
  | {
      backend: 'dynamodb';
      /** Omit for AWS; set for DynamoDB Local or a VPC endpoint. */
      endpoint?: string;
      region: string;
      /** Prepended to each table name, e.g. `sori_` gives `sori_roster`. */
      tablePrefix: string;
      /** Omit to use the SDK's default chain (environment, profile, instance role). */
      credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    }
  | {
      backend: 'cassandra';
      contactPoints: string[];
      localDataCenter: string;
      keyspace: string;
      /** Keyspace replication when sori creates it, e.g. `{ class: 'NetworkTopologyStrategy', dc1: 3 }`. */
      replication?: Replication;
      credentials?: { username: string; password: string };
    };

export type StorageBackend = StorageConfig['backend'];

/**
 * Backends are imported on demand: a single node on LevelDB never loads the
 * AWS SDK or the Cassandra driver, which keeps `npm start` quick.
 */
export async function createStore(config: StorageConfig): Promise<WideColumnStore> {
  switch (config.backend) {
    case 'memory': {
      const { MemoryStore } = await import('./memory/index.js');
      return new MemoryStore();
    }
    case 'leveldb': {
      const { LevelStore } = await import('./leveldb/index.js');
      const { path, backend: _, ...options } = config;
      return new LevelStore(path, options);
    }
    case 'dynamodb': {
      const { DynamoStore } = await import('./dynamodb/index.js');
      const { backend: _, ...rest } = config;
      return new DynamoStore(rest);
    }
    case 'cassandra': {
      const { CassandraStore } = await import('./cassandra/index.js');
      const { backend: _, ...rest } = config;
      return new CassandraStore(rest);
    }
  }
}

export { copyStore, type CopyOptions, type CopyProgress, type CopyResult } from './copy.js';
export * from './wide-column.js';
