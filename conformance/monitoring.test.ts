/**
 * The operations endpoints (`monitoring` module) end to end: sori in-process
 * on ephemeral ports, @xmpp/client logging in over TCP + STARTTLS, and the
 * metrics read over HTTP by an independent Prometheus text-format parser
 * (parse-prometheus-text-format), as a scraper would.
 */
import { execFile } from 'node:child_process';
import { expect } from 'chai';
import type { Sori } from '../src/sori.js';
import { CoalescingStore } from '../src/storage/coalescing.js';
import { MemoryStore } from '../src/storage/memory/index.js';
import { eventually } from '../src/testing/eventually.js';
import { scrapedHistogram, scrapedValue } from '../src/testing/metrics.js';
import { parseJid } from '../src/util/jid.js';
import { redisService } from '../src/testing/services/redis.js';
import { RawClient } from '../src/testing/raw-client.js';
import { connectTcp, trustTestPort, xml, type XmppSession } from './support/clients.js';
import { startTestSori } from '../src/testing/test-sori.js';

const DOMAIN = 'localhost';

// Batched as sori batches its own store, so that the store's write metrics are there to read.
const startWith = (monitoring: Record<string, unknown> = {}, cluster: Record<string, unknown> = {}, store = new MemoryStore()): Promise<Sori> =>
  startTestSori({ c2s: { maxLoginFailures: 1000 }, modules: { options: { monitoring } }, cluster }, { store: new CoalescingStore(store) });

describe('monitoring: /metrics and /health', function () {
  this.timeout(30_000);
  let store: MemoryStore;
  let sori: Sori;
  let base: string;
  let alice: XmppSession | undefined;

  before(async () => {
    store = new MemoryStore();
    sori = await startWith({}, {}, store);
    for (const u of ['alice', 'bob']) await sori.server.accounts.create(parseJid(`${u}@${DOMAIN}`), `${u}-pw`);
    trustTestPort(sori.listening.ports.c2s!);
    base = `http://127.0.0.1:${sori.listening.ports.ws!}`;
  });
  after(async () => {
    await alice?.stop();
    await sori.stop();
  });

  it('reports sessions, logins, a wrong password, stanzas, and what became of a message for an offline contact', async () => {
    const at = { host: '127.0.0.1', port: sori.listening.ports.c2s!, domain: DOMAIN };
    const scrape = async () => {
      const res = await fetch(`${base}/metrics`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
      return res.text();
    };
    const before = await scrape();
    expect(scrapedValue(before, 'sori_sessions', { transport: 'tcp', state: 'connected' })).to.equal(0);

    let refused: unknown;
    await connectTcp(at, { username: 'alice', password: 'wrong' }).catch((e: unknown) => (refused = e));
    expect(refused, 'login with a wrong password').to.be.instanceOf(Error);
    alice = await connectTcp(at, { username: 'alice', password: 'alice-pw', resource: 'phone' });
    await alice.xmpp.send(xml('presence'));
    await alice.xmpp.send(xml('message', { to: `bob@${DOMAIN}`, type: 'chat', id: 'm1' }, xml('body', {}, 'are you there?')));

    const text = await eventually(async () => {
      const t = await scrape();
      expect(scrapedValue(t, 'sori_offline_messages_total', { outcome: 'stored' })).to.equal(1);
      return t;
    });
    expect(scrapedValue(text, 'sori_sessions', { transport: 'tcp', state: 'connected' })).to.equal(1);
    expect(scrapedValue(text, 'sori_logins_total', { mechanism: 'SCRAM-SHA-1' }) ?? scrapedValue(text, 'sori_logins_total', { mechanism: 'SCRAM-SHA-1-PLUS' })).to.equal(1);
    expect(scrapedValue(text, 'sori_auth_failures_total', { condition: 'not-authorized' })).to.equal(1);
    // One login bound a resource (the refused one never got that far); it took more than nothing and less than the test.
    const logins = scrapedHistogram(text, 'sori_login_seconds')!;
    expect(logins.count).to.equal(1);
    expect(logins.buckets['+Inf']).to.equal(1);
    expect(logins.sum).to.be.greaterThan(0).and.lessThan(10);
    expect(scrapedValue(text, 'sori_stanzas_received_total', { kind: 'message' })).to.equal(1);
    expect(scrapedValue(text, 'sori_stanzas_received_total', { kind: 'presence' })).to.equal(1);
    expect(scrapedValue(text, 'sori_mam_archived_total', { direction: 'out' })).to.equal(1);
    expect(scrapedValue(text, 'sori_mam_archived_total', { direction: 'in' })).to.equal(1);
    // Both archive copies went to the store in write batches, each timed once.
    const batches = scrapedValue(text, 'sori_store_batches_total', { outcome: 'ok' })!;
    expect(batches).to.be.at.least(1);
    expect(scrapedValue(text, 'sori_store_batches_total', { outcome: 'error' }) ?? 0).to.equal(0);
    expect(scrapedValue(text, 'sori_store_rows_written_total')).to.be.at.least(2);
    const writes = scrapedHistogram(text, 'sori_store_batch_write_seconds')!;
    const waits = scrapedHistogram(text, 'sori_store_batch_wait_seconds')!;
    expect(writes.count).to.equal(batches);
    expect(waits.count).to.equal(batches);
    expect(waits.sum).to.be.at.least(writes.sum).and.lessThan(10);
    expect(scrapedValue(text, 'process_resident_memory_bytes')).to.be.greaterThan(10 * 1024 * 1024);
    expect(scrapedValue(text, 'process_cpu_seconds_total')).to.be.greaterThan(0);
    expect(scrapedValue(text, 'nodejs_eventloop_active_seconds_total')).to.be.greaterThan(0);

    await alice.stop();
    alice = undefined;
    await eventually(async () => expect(scrapedValue(await scrape(), 'sori_sessions', { transport: 'tcp', state: 'connected' })).to.equal(0));
  });

  it('reports how long the event loop was held since the previous scrape, so a stall shows though utilisation hardly moves', async () => {
    const lag = async (): Promise<number> => scrapedValue(await (await fetch(`${base}/metrics`)).text(), 'nodejs_eventloop_lag_max_seconds') ?? -1;
    await lag();
    // A reading restarts the sampler, whose first tick after that only sets its baseline: the stall comes after it.
    await new Promise((r) => setTimeout(r, 50));
    // The node is held for 150 ms, as by a long collection or a synchronous task.
    const until = Date.now() + 150;
    while (Date.now() < until);
    await new Promise((r) => setTimeout(r, 30));
    const held = await lag();
    expect(held).to.be.at.least(0.1);
    // Read once, then it starts again.
    expect(await lag()).to.be.below(held);
  });

  it('answers /health with 200 while the store answers, and 503 naming the store while it fails', async () => {
    const ok = await fetch(`${base}/health`);
    expect(ok.status).to.equal(200);
    expect(await ok.json()).to.deep.include({ status: 'ok', checks: { store: 'ok' } });

    const get = store.get.bind(store);
    store.get = () => Promise.reject(new Error('disk on fire'));
    try {
      const failing = await fetch(`${base}/health`);
      expect(failing.status).to.equal(503);
      expect(await failing.json()).to.deep.include({ status: 'failing', checks: { store: 'disk on fire' } });
    } finally {
      store.get = get;
    }
    expect((await fetch(`${base}/health`)).status).to.equal(200);
    expect((await fetch(`${base}/metrics/else`)).status).to.equal(404);
  });

  it('answers /live with 200 while the store fails and while stopping, so that a liveness probe restarts no node for an outage a restart cannot mend', async () => {
    const get = store.get.bind(store);
    store.get = () => Promise.reject(new Error('disk on fire'));
    try {
      expect((await fetch(`${base}/health`)).status).to.equal(503);
      const live = await fetch(`${base}/live`);
      expect(live.status).to.equal(200);
      expect(await live.json()).to.deep.equal({ status: 'live', node: sori.server.nodeId });
    } finally {
      store.get = get;
    }
    const node = await startTestSori({ server: { shutdownGraceSeconds: 1 } });
    const at = `http://127.0.0.1:${node.listening.ports.ws!}`;
    const stopped = node.stop();
    try {
      expect((await fetch(`${at}/health`)).status).to.equal(503);
      expect((await fetch(`${at}/live`)).status, 'a draining node is not to be killed').to.equal(200);
    } finally {
      await stopped;
    }
  });

  it('refuses the metrics to a request that came through a reverse proxy, although it arrives from loopback', async () => {
    for (const header of ['x-forwarded-for', 'forwarded', 'x-real-ip']) {
      const value = header === 'forwarded' ? 'for=203.0.113.7' : '203.0.113.7';
      expect((await fetch(`${base}/metrics`, { headers: { [header]: value } })).status, header).to.equal(403);
    }
    expect((await fetch(`${base}/metrics`)).status).to.equal(200);
  });

  it('refuses the metrics to addresses outside `allow` but still answers /health there', async () => {
    const other = await startWith({ allow: ['10.0.0.0/8', 'fd00::/8'] });
    try {
      const at = `http://127.0.0.1:${other.listening.ports.ws!}`;
      const refused = await fetch(`${at}/metrics`);
      expect(refused.status).to.equal(403);
      expect(await refused.text()).to.contain('modules.options.monitoring.allow');
      expect((await fetch(`${at}/health`)).status).to.equal(200);
    } finally {
      await other.stop();
    }
  });

  it('in a cluster, also reads the session table: 503 naming the cluster while Redis does not answer', async () => {
    const redis = await redisService();
    // A long liveness window: Redis is paused (CLIENT PAUSE) for longer than the check waits.
    const node = await startWith({}, { redis: [redis.url], livenessSeconds: 30 });
    try {
      const at = `http://127.0.0.1:${node.listening.ports.ws!}/health`;
      const ok = await fetch(at);
      expect(ok.status).to.equal(200);
      expect(await ok.json()).to.deep.include({ checks: { store: 'ok', cluster: 'ok' } });
      await new Promise<void>((resolve, reject) => execFile('redis-cli', ['-p', String(redis.port), 'client', 'pause', '3000', 'ALL'], (e) => (e ? reject(e) : resolve())));
      const failing = await fetch(at);
      expect(failing.status).to.equal(503);
      expect(await failing.json()).to.deep.include({ status: 'failing', checks: { store: 'ok', cluster: 'no answer within 2000 ms' } });
      await eventually(async () => expect((await fetch(at)).status).to.equal(200));
    } finally {
      await node.stop();
    }
  });

  it('answers 503 "stopping" while a stopping node drains, with its clients still connected and new ones turned away, then closes them', async () => {
    const node = await startTestSori({ server: { shutdownGraceSeconds: 1 } });
    try {
      await node.server.accounts.create(parseJid(`carol@${DOMAIN}`), 'carol-pw');
      trustTestPort(node.listening.ports.c2s!);
      const carol = await connectTcp({ host: '127.0.0.1', port: node.listening.ports.c2s!, domain: DOMAIN }, { username: 'carol', password: 'carol-pw' });
      const streamErrors: string[] = [];
      carol.xmpp.on('error', (e: { condition?: string }) => streamErrors.push(e.condition ?? 'none'));
      const at = `http://127.0.0.1:${node.listening.ports.ws!}/health`;
      expect((await fetch(at)).status).to.equal(200);
      const stopped = node.stop();
      const draining = await fetch(at);
      expect(draining.status).to.equal(503);
      expect(await draining.json()).to.deep.include({ status: 'stopping', sessions: 1 });
      expect(streamErrors, 'still connected while draining').to.deep.equal([]);
      // A client arriving now is told at once, not logged in and closed a second later.
      const late = await RawClient.connect(node.listening.ports.c2s!);
      late.open();
      const refusal = await late.next((e) => e.name === 'stream:error');
      expect(refusal.getChild('system-shutdown', 'urn:ietf:params:xml:ns:xmpp-streams'), refusal.toString()).to.not.equal(undefined);
      await late.waitClosed();
      expect(streamErrors, 'the connected client is still connected').to.deep.equal([]);
      await stopped;
      await eventually(async () => expect(streamErrors).to.include('system-shutdown'));
      await carol.stop();
    } finally {
      await node.stop();
    }
  });

  it('refuses to start with an allow entry that is not an address or prefix', async () => {
    let error: unknown;
    await startWith({ allow: ['10.0.0.0/40'] }).then((s) => s.stop(), (e: unknown) => (error = e));
    expect(String(error)).to.contain('"10.0.0.0/40" has no valid prefix length');
  });
});
