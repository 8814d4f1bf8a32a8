/**
 * aioxmpp's e2e suite (conformance/aioxmpp.test.ts, run the same way through
 * conformance/aioxmpp/harness.ts) against a cluster of two sori nodes sharing
 * DynamoDB Local and Redis (conformance/support/cluster.ts). The provisioner
 * connects successive clients to node a and node b in turn, so every test
 * with two clients crosses nodes: messages, presence, a MUC room held on one
 * node with occupants on the other, PEP notifications, pubsub.<domain>, IBB,
 * blocking, avatars, HTTP upload. Each account is created through the admin
 * API of the node its client does not log in to.
 *
 * A failure is judged against conformance/aioxmpp/known-failures.txt (what
 * fails on one sori fails here too) and known-failures-cluster.txt (what
 * fails only across nodes, each with why).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { freePort } from '../src/testing/services/child-process.js';
import { dynamoLocalService } from '../src/testing/services/dynamodb-local.js';
import { flushRedis, redisService } from '../src/testing/services/redis.js';
import { AIOXMPP_VERSION, HERE, checkPrerequisites, describeUnexpected, e2eIni, readKnownFailures, runSuite, type E2eNode } from './aioxmpp/harness.js';
import { sharedStore, startClusterNode, type ClusterNodeProcess, type SharedStore } from './support/cluster.js';

/** Successful logins on a node so far, from its Prometheus metrics (module monitoring). */
async function loginCount(http: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('sori_logins_total')) n += Number(line.split(' ').at(-1));
  return n;
}

const KNOWN_FAILURES = [join(HERE, 'known-failures.txt'), join(HERE, 'known-failures-cluster.txt')];

describe(`aioxmpp ${AIOXMPP_VERSION} e2e suite against a two-node sori cluster (conformance/aioxmpp)`, function () {
  this.timeout(360_000);
  const nodes: ClusterNodeProcess[] = [];
  let shared: SharedStore | undefined;
  let workDir: string | undefined;
  let redisPort: number | undefined;

  before(checkPrerequisites);

  after(async function () {
    this.timeout(60_000);
    await Promise.all(nodes.map((n) => n.stop()));
    // The Redis of the whole mocha run: later suites should not find nodes a and b registered there.
    if (redisPort !== undefined) await flushRedis([redisPort]);
    await shared?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('passes every test that the known-failures files do not list, with successive clients on alternate nodes', async () => {
    const token = randomBytes(24).toString('hex');
    const [redis, dynamo] = await Promise.all([redisService(), dynamoLocalService()]);
    redisPort = redis.port;
    await flushRedis([redis.port]);
    shared = await sharedStore(dynamo);
    const e2eNodes: E2eNode[] = [];
    const started = await Promise.all(['a', 'b'].map(async (name) => {
      // The HTTP listener carries the admin API that creates the accounts.
      const httpPort = await freePort();
      const node = await startClusterNode({
        name,
        redis: { urls: [redis.url], cluster: false },
        dynamodb: shared!.dynamodb,
        // As in conformance/cluster.test.ts: a busy machine must not pass for a dead node.
        livenessSeconds: 5,
        config: {
          server: { logLevel: 'warn' },
          websocket: { port: httpPort },
          modules: { enabled: ['admin-api'], options: { 'admin-api': { token } } },
        },
      });
      nodes.push(node);
      return { node, http: `http://${node.host}:${httpPort}`, e2e: { host: node.host, port: node.port, api: `http://${node.host}:${httpPort}/api` } };
    }));
    for (const s of started) e2eNodes.push(s.e2e);
    workDir = await mkdtemp(join(tmpdir(), 'sori-aioxmpp-cluster-'));
    const ini = join(workDir, 'e2e.ini');
    await writeFile(ini, e2eIni(nodes[0]!.domain, token, e2eNodes));

    const { verdict } = await runSuite(workDir, ini, await readKnownFailures(KNOWN_FAILURES), 'the known-failures files');
    const logins = await Promise.all(started.map((s) => loginCount(s.http)));
    console.log(`    aioxmpp: logins on node a: ${logins[0]}, on node b: ${logins[1]}`);
    const output = nodes.map((n) => `--- node ${n.name} ---\n${n.output().slice(-2000)}`).join('\n');
    expect(verdict.unexpected.map((r) => r.id), `failures in neither known-failures.txt nor known-failures-cluster.txt:\n\n${describeUnexpected(verdict)}\n\nnode output:\n${output}`).to.deep.equal([]);
    // A provisioner that sent every client to one node would pass as well as one sori does, and prove nothing.
    expect(Math.min(...logins), 'each node takes half of the clients').to.be.at.least((logins[0]! + logins[1]!) / 3);
  });
});
