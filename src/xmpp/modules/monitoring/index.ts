import { parseJid } from '../../../util/jid.js';
import { addressList, requestAllowed } from '../../../util/address-list.js';
import { defineModule, type ServerApi } from '../../module.js';

/** Checks the health endpoint runs, and how long each may take before it counts as failing. */
const CHECK_TIMEOUT_MS = 2_000;


function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export interface HealthReport {
  /** 'stopping' from the moment the node begins to shut down (server.shutdownGraceSeconds). */
  status: 'ok' | 'failing' | 'stopping';
  node: string;
  sessions: number;
  /** 'ok' or why the check failed, by check. */
  checks: Record<string, string>;
}

/**
 * What a load balancer or orchestrator needs to know before sending clients
 * here: can this node read accounts (the store answers) and, in a cluster,
 * reach the session table (Redis answers)? Both are real reads through the
 * paths logins use, bounded in time.
 */
export async function checkHealth(server: ServerApi, draining = false): Promise<HealthReport> {
  if (draining) return { status: 'stopping', node: server.nodeId, sessions: server.sessionCount(), checks: {} };
  const probe = parseJid(`health-check@${server.hosts[0]!}`);
  const checks: Record<string, () => Promise<unknown>> = { store: () => server.accounts.exists(probe) };
  if (server.clustered) checks.cluster = () => server.clusterNodes();
  const results: Record<string, string> = {};
  await Promise.all(
    Object.entries(checks).map(async ([name, run]) => {
      try {
        await withTimeout(run(), CHECK_TIMEOUT_MS);
        results[name] = 'ok';
      } catch (e) {
        results[name] = e instanceof Error ? e.message : String(e);
      }
    }),
  );
  const ok = Object.values(results).every((r) => r === 'ok');
  return { status: ok ? 'ok' : 'failing', node: server.nodeId, sessions: server.sessionCount(), checks: results };
}

/**
 * Operations endpoints on sori's HTTP listeners (the WebSocket/BOSH ports):
 *  - `/metrics`: every metric of this node in the Prometheus text format
 *    (sessions, logins, stanzas, stream errors, archive, offline and push
 *    outcomes, CPU, memory, event loop), for the addresses in `allow` only;
 *    others get 403, and so does a request that came through a reverse
 *    proxy (Forwarded, X-Forwarded-For or X-Real-IP), which would otherwise
 *    look like loopback. The default allows loopback, as Prosody's
 *    mod_http_openmetrics does: put the scraper's addresses there.
 *  - `/health`: 200 when the store (and, in a cluster, Redis) answers, 503
 *    otherwise, with a JSON body saying which check failed; 503 "stopping"
 *    as soon as the node begins to shut down, while its sessions still run
 *    (`server.shutdownGraceSeconds`). It names no
 *    account and holds no secret, so any address may ask. It says whether
 *    to send clients here (readiness).
 *  - `/live`: 200 for as long as the process answers HTTP, whatever the store
 *    or Redis say and while draining: it says whether to restart the node
 *    (liveness). A liveness probe on `/health` would restart every node at
 *    once for a store outage that restarting cannot mend, ending all sessions,
 *    and kill a draining node before its grace period is over.
 */
export default defineModule({
  name: 'monitoring',
  implements: 'Prometheus text exposition format 0.0.4 (/metrics), a readiness check (/health) and a liveness check (/live)',
  defaultEnabled: true,
  options: {
    metricsPath: { type: 'string', default: '/metrics', doc: 'HTTP path of the metrics; empty turns it off.' },
    healthPath: { type: 'string', default: '/health', doc: 'HTTP path of the health check (readiness: 503 while the store or Redis does not answer, or while stopping); empty turns it off.' },
    livePath: { type: 'string', default: '/live', doc: 'HTTP path answering 200 while the process serves HTTP at all, store and Redis outages and draining included: for liveness probes, which restart the node; empty turns it off.' },
    allow: { type: 'string[]', default: ['127.0.0.1', '::1'], doc: 'Addresses and CIDR prefixes that may read the metrics (e.g. "10.0.0.0/8").' },
  },
  start(ctx) {
    const { server } = ctx;
    const allowed = addressList(ctx.options.allow, 'modules.options.monitoring.allow');
    const { metricsPath, healthPath, livePath } = ctx.options;
    let draining = false;
    ctx.hook('server/draining', () => {
      draining = true;
    });
    if (metricsPath !== '') {
      ctx.httpRoute(metricsPath, (req, res) => {
        if (!requestAllowed(allowed, req)) {
          res.writeHead(403, { 'content-type': 'text/plain' }).end('metrics are not served to this address (modules.options.monitoring.allow)\n');
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(server.metrics.render());
      });
    }
    if (healthPath !== '') {
      ctx.httpRoute(healthPath, (req, res) => {
        checkHealth(server, draining).then(
          (report) => res.writeHead(report.status === 'ok' ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify(report)}\n`),
          (e: unknown) => {
            ctx.log.warn('health check failed', e);
            res.writeHead(500).end();
          },
        );
      });
    }
    if (livePath !== '') {
      ctx.httpRoute(livePath, (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify({ status: 'live', node: server.nodeId })}\n`);
      });
    }
  },
});
