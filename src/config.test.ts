import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './config.js';
import { ConfigError } from './util/options.js';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return 'no error';
}

describe('configuration', () => {
  it('defaults serve localhost on 127.0.0.1 with the documented ports and LevelDB', () => {
    const c = loadConfig({ env: {} });
    expect(c.server.hosts).to.deep.equal(['localhost']);
    expect(c.server.bind).to.equal('127.0.0.1');
    expect([c.c2s.port, c.c2s.directTlsPort, c.websocket.port, c.websocket.tlsPort]).to.deep.equal([5222, 5223, 5280, 5443]);
    expect(c.storage.backend).to.equal('leveldb');
  });

  it('layers a --config file and SORI__ environment variables over the defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sori-config-'));
    const file = join(dir, 'sori.json');
    writeFileSync(file, JSON.stringify({ server: { hosts: ['example.org'] }, c2s: { port: 6222 } }));
    const c = loadConfig({ file, env: { SORI__c2s__port: '7222', SORI__server__admins: '["admin@example.org"]' } });
    expect(c.server.hosts).to.deep.equal(['example.org']);
    expect(c.c2s.port).to.equal(7222);
    expect(c.server.admins).to.deep.equal(['admin@example.org']);
    expect(c.configDir).to.equal(dir);
  });

  it('stops on a wrong value, naming the key and what it accepts', () => {
    expect(errorOf(() => loadConfig({ env: { SORI__c2s__port: '70000' } }))).to.equal('c2s.port: got 70000, expected an integer >= 0 <= 65535');
    expect(errorOf(() => loadConfig({ env: { SORI__storage__backend: '"mysql"' } }))).to.match(/^storage\.backend: got "mysql", expected one of "leveldb", "memory", "dynamodb", "cassandra"/);
    expect(errorOf(() => loadConfig({ env: { SORI__c2s__prot: '1' } }))).to.match(/^c2s\.prot: unknown option/);
    expect(errorOf(() => loadConfig({ env: { SORI__nope__x: '1' } }))).to.match(/^nope: unknown section/);
  });

  it('tells a config that sets the client ping options, which c2s never read, that they are the ping module\'s', () => {
    expect(errorOf(() => loadConfig({ overrides: { c2s: { pingIntervalSeconds: 120 } } }))).to.equal(
      "c2s.pingIntervalSeconds: not an option of c2s; client pings are the ping module's: set modules.options.ping.idleSeconds",
    );
    expect(errorOf(() => loadConfig({ env: { SORI__c2s__pingTimeoutSeconds: '30' } }))).to.match(/^c2s\.pingTimeoutSeconds: .*set modules\.options\.ping\.timeoutSeconds$/);
    expect(loadConfig({ env: {}, overrides: { modules: { options: { ping: { idleSeconds: 120 } } } } }).c2s).to.not.have.property('pingIntervalSeconds');
  });

  it('checks the keys of the DynamoDB or Cassandra section in use, which would otherwise name tables "undefinedaccounts"', () => {
    const dynamodb = (d: Record<string, unknown>) => errorOf(() => loadConfig({ env: {}, overrides: { storage: { backend: 'dynamodb', dynamodb: d } } }));
    expect(dynamodb({ region: 'eu-west-1', tablePrefx: 'sori_' })).to.equal('storage.dynamodb.tablePrefx: unknown option (known: region, tablePrefix, endpoint, credentials, maxAttempts)');
    expect(dynamodb({ region: 'eu-west-1' })).to.equal('storage.dynamodb.tablePrefix: required with storage.backend "dynamodb"');
    expect(dynamodb({ region: 'eu-west-1', tablePrefix: 'sori_', maxAttempts: '5' })).to.equal('storage.dynamodb.maxAttempts: got "5", expected a number');
    expect(dynamodb({ region: 'eu-west-1', tablePrefix: '', endpoint: 'http://127.0.0.1:8000' })).to.equal('no error');
    const cassandra = (c: Record<string, unknown>) => errorOf(() => loadConfig({ env: {}, overrides: { storage: { backend: 'cassandra', cassandra: c } } }));
    expect(cassandra({ contactPoints: '10.0.0.1', localDataCenter: 'dc1', keyspace: 'sori' })).to.equal('storage.cassandra.contactPoints: got "10.0.0.1", expected a list');
    expect(cassandra({ contactPoints: ['10.0.0.1'], localDataCenter: 'dc1', keyspace: 'sori' })).to.equal('no error');
    // The section of a backend not in use is not read.
    expect(errorOf(() => loadConfig({ env: {}, overrides: { storage: { dynamodb: { tablePrefx: 'x' } } } }))).to.equal('no error');
  });

  it('refuses a Redis Sentinel master name without sentinels to ask, or beside Redis Cluster', () => {
    const cluster = (c: Record<string, unknown>) => errorOf(() => loadConfig({ env: {}, overrides: { cluster: c } }));
    expect(cluster({ redisSentinel: 'mymaster' })).to.match(/^cluster\.redisSentinel: cluster\.redis must list the sentinels/);
    expect(cluster({ redisSentinel: 'mymaster', redis: ['redis://10.0.0.1:26379'], redisCluster: true })).to.match(/^cluster\.redisSentinel: a Redis Cluster/);
    expect(cluster({ redisSentinel: 'mymaster', redis: ['redis://10.0.0.1:26379', 'redis://10.0.0.2:26379'] })).to.equal('no error');
    // The primary's credentials ride on a URL naming the master; a port or path there names something else.
    expect(cluster({ redisSentinel: 'redis://:pw@mymaster', redis: ['redis://:spw@10.0.0.1:26379'] })).to.equal('no error');
    expect(cluster({ redisSentinel: 'redis://:pw@mymaster:6379', redis: ['redis://10.0.0.1:26379'] })).to.match(/^cluster\.redisSentinel: expected a master name or redis:\/\/\[user:password@\]name/);
    expect(cluster({ redisSentinel: 'rediss://mymaster', redis: ['redis://10.0.0.1:26379'] })).to.match(/^cluster\.redisSentinel: expected a master name/);
    // Every sentinel is sent the same credentials, so the URLs that carry some must agree.
    expect(cluster({ redisSentinel: 'mymaster', redis: ['redis://:one@10.0.0.1:26379', 'redis://:two@10.0.0.2:26379'] })).to.match(/^cluster\.redis: the sentinel URLs carry different user:password/);
    expect(cluster({ redisSentinel: 'mymaster', redis: ['redis://:one@10.0.0.1:26379', 'redis://10.0.0.2:26379'] })).to.equal('no error');
  });

  it('names a missing or broken config file', () => {
    expect(errorOf(() => loadConfig({ file: '/nonexistent/sori.json', env: {} }))).to.match(/does not exist/);
    const dir = mkdtempSync(join(tmpdir(), 'sori-config-'));
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    expect(errorOf(() => loadConfig({ file: join(dir, 'bad.json'), env: {} }))).to.match(/not valid JSON/);
  });
});
