import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore, type StorageConfig } from './index.js';

describe('createStore', () => {
  it('builds the backend a config names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sori-factory-'));
    const configs: StorageConfig[] = [
      { backend: 'memory' },
      { backend: 'leveldb', path: dir },
      { backend: 'dynamodb', region: 'us-east-1', tablePrefix: 'sori_', endpoint: 'http://127.0.0.1:1' },
      { backend: 'cassandra', contactPoints: ['127.0.0.1:1'], localDataCenter: 'dc1', keyspace: 'sori' },
    ];
    const stores = await Promise.all(configs.map(createStore));
    expect(stores.map((s) => s.name)).to.deep.equal(['memory', 'leveldb', 'dynamodb', 'cassandra']);
    await stores[1]!.ensureTables([{ name: 'roster' }]);
    await stores[1]!.put('roster', 'romeo@example.net', 'juliet@example.com', '<item/>');
    expect(await stores[1]!.get('roster', 'romeo@example.net', 'juliet@example.com')).to.equal('<item/>');
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects an invalid Cassandra keyspace name before connecting', async () => {
    const err = await createStore({ backend: 'cassandra', contactPoints: ['x'], localDataCenter: 'dc1', keyspace: 'drop table' }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.match(/invalid/);
  });
});
