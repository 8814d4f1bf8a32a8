#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from './config.js';
import { ConfigError } from './util/options.js';
import { getLogLevel } from './util/log.js';
import { describeStartupError } from './startup-error.js';
import { missingRuntimeFlags } from './node-flags.js';
import { startHeapTrim } from './heap-trim.js';
import { startSori } from './sori.js';

const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } } });

/**
 * How long stopping may take once the grace period is over. Closing waits on Redis and the
 * store; with one of them down it would wait until the supervisor's SIGKILL (systemd after
 * 90 s), or for ever in a terminal. The work not done then is what a crash leaves, and a
 * surviving node cleans it up.
 */
const STOP_DEADLINE_SECONDS = 10;

let config: Config | undefined;
try {
  config = loadConfig({ file: values.config });
  const sori = await startSori(config);
  const missing = missingRuntimeFlags();
  if (missing.length > 0) sori.log.warn(`started without ${missing.join(' ')}: expect longer GC pauses under load (see src/node-flags.ts; \`npm start\` passes them)`);
  const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
  const heapTrim = startHeapTrim({
    quietSeconds: config.server.heapTrimQuietSeconds,
    onTrim: (trim) => {
      const line = `quiet: young generation ${mib(trim.beforeBytes)} → ${mib(trim.afterBytes)} MiB resident, event loop held ${trim.pauseMs.toFixed(1)} ms`;
      if (trim.afterBytes < trim.beforeBytes / 2) sori.log.info(line);
      else sori.log.debug(line);
    },
  });
  if (heapTrim.unavailable !== undefined) sori.log.warn(`memory a burst grows is not given back when quiet: ${heapTrim.unavailable}`);
  let signalledAt = 0;
  const stopDeadlineSeconds = config.server.shutdownGraceSeconds + STOP_DEADLINE_SECONDS;
  const shutdown = (signal: string): void => {
    // Under `npm start` the same Ctrl+C arrives twice (directly and relayed by npm, or by tsx when run through its CLI):
    // only a second signal a moment later means "stop now".
    if (signalledAt !== 0) {
      if (Date.now() - signalledAt > 1000) process.exit(1);
      return;
    }
    signalledAt = Date.now();
    sori.log.info(`${signal}: closing sessions and stopping`);
    heapTrim.stop();
    setTimeout(() => {
      sori.log.error(`not stopped ${stopDeadlineSeconds} s after ${signal} (is Redis or the store not answering?): exiting without finishing`);
      process.exit(1);
    }, stopDeadlineSeconds * 1000).unref();
    sori.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        sori.log.error('shutdown failed', e);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // `systemctl reload`, certbot's deploy hook, `docker kill -s HUP`: a renewed certificate without ending sessions.
  process.on('SIGHUP', () => {
    sori.reloadTls().catch((e: unknown) => sori.log.error('SIGHUP: the TLS certificate could not be reloaded; the old one stays in use', e));
  });
} catch (e) {
  if (e instanceof ConfigError) {
    process.stderr.write(`sori: configuration error: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`sori: cannot start: ${describeStartupError(e, config)}\n`);
  if (getLogLevel() === 'debug' && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  // What did start (modules' timers, the store, listeners opened before the failing one) must not keep a half-started server running.
  process.exit(1);
}
