import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, resolveOptions, type OptionSpecs, type OptionValues } from './util/options.js';

/**
 * Server configuration: `config/default.json`, then the file named by
 * `--config`, then environment variables `SORI__section__key=value` (values
 * parsed as JSON when they parse). Every key is declared here with a
 * validator, so a typo or a wrong type stops the server with the key's name.
 */

export const SECTIONS = {
  server: {
    hosts: { type: 'string[]', default: ['localhost'], doc: 'Domains this server hosts.' },
    bind: { type: 'string', default: '127.0.0.1', doc: 'Address every listener binds to.' },
    dataDir: { type: 'string', default: './data', doc: 'Where the embedded store, certificates and uploads live.' },
    nodeId: { type: 'optional-string', doc: 'This node\'s id in a cluster (default: hostname-pid).' },
    admins: { type: 'string[]', default: [], doc: 'Bare JIDs allowed to use XEP-0133 service administration.' },
    logLevel: { type: 'string', default: 'info', enum: ['debug', 'info', 'warn', 'error'], doc: 'Log verbosity.' },
    logFormat: { type: 'string', default: 'text', enum: ['text', 'json'], doc: 'Log lines on stderr: "text" for a terminal, "json" (one object per line: time, level, logger, msg, error, detail) for log collectors.' },
    shutdownGraceSeconds: { type: 'number', default: 0, min: 0, doc: 'On SIGTERM/SIGINT, how long /health answers 503 ("stopping") before sessions are closed, so a load balancer or Kubernetes stops sending new clients first (5 is typical there). Connected clients stay connected meanwhile; clients that open a stream then are turned away at once (system-shutdown, or see-other-host with cluster.seeOtherHost).' },
    heapTrimQuietSeconds: { type: 'number', default: 5, integer: true, min: 0, doc: 'After this many seconds of a nearly idle event loop (under 5 % busy), ask V8 for young-generation collections, every as many seconds again and four times at most, until it gives back the memory a burst grew the young generation to (~100 MiB with the 64 MiB semi-spaces `npm start` sets). V8 itself declines while the allocation rate is not low. 0 turns it off.' },
  },
  c2s: {
    port: { type: 'number', default: 5222, integer: true, min: 0, max: 65535, doc: 'Client port with STARTTLS (0 disables).' },
    directTlsPort: { type: 'number', default: 5223, integer: true, min: 0, max: 65535, doc: 'Client port with direct TLS, XEP-0368 (0 disables).' },
    requireEncryption: { type: 'boolean', default: true, doc: 'Refuse to authenticate TCP clients before STARTTLS.' },
    maxStanzaSize: { type: 'number', default: 262144, integer: true, min: 1024, doc: 'Largest stanza accepted, in characters (policy-violation beyond). Told to clients after authentication as XEP-0478 max-bytes (with c2s.sasl2 also before it, since a client binding with Bind2 sees no features after it): a UTF-8 stanza of that many bytes never has more characters.' },
    maxDepth: { type: 'number', default: 32, integer: true, min: 4, doc: 'Deepest element nesting inside a stanza.' },
    maxAttributes: { type: 'number', default: 64, integer: true, min: 4, doc: 'Most attributes on one element.' },
    rateBytesPerSecond: { type: 'number', default: 1048576, integer: true, min: 1024, doc: 'Per-connection read rate; reading pauses beyond it.' },
    sasl2: { type: 'boolean', default: false, doc: 'Offer XEP-0388 SASL2 with XEP-0386 Bind2 and inline stream management: a reconnecting client authenticates, binds or resumes, and enables carbons and CSI in one round trip. RFC 6120 SASL stays offered beside it. Off by default for now: with Bind2 the server picks the resource (the client\'s tag plus a suffix), which clients that expect the resource they asked for (bots on @xmpp/client 0.14, which uses SASL2 when offered) do not.' },
    fastTokenDays: { type: 'number', default: 14, min: 0, doc: 'With c2s.sasl2: how long an XEP-0484 FAST token lets an installation log in again without its password (HT-SHA-256-NONE, or -EXPR, -ENDP, -UNIQ bound to the TLS channel); a token used in the second half of its life is replaced; 0 turns FAST off. Changing the password ends every token.' },
    fastTokensPerAccount: { type: 'number', default: 32, integer: true, min: 2, doc: 'With FAST: the most unexpired tokens an account keeps over all its installations (each holds one, and two while its newest is not used yet). The user-agent id that keys them is the client\'s to choose, so a client naming a new one at every login would otherwise add a token each time; past this, the oldest tokens end when a new one is issued. Expired tokens are removed as they are found.' },
    authTimeoutSeconds: { type: 'number', default: 60, min: 1, doc: 'Seconds a connection may take to authenticate and bind.' },
    maxLoginFailures: { type: 'number', default: 5, integer: true, min: 1, doc: 'Failed logins per account or address before throttling; in a cluster, counted over all nodes.' },
    loginThrottleSeconds: { type: 'number', default: 60, min: 1, doc: 'Window over which failed logins are counted and throttled.' },
  },
  auth: {
    passwords: { type: 'boolean', default: true, doc: 'Accounts log in with passwords sori keeps (SCRAM, and PLAIN on encrypted streams). false: only login tokens (below) are accepted, and only PLAIN is offered, so that a client holding a token does not try SCRAM with it.' },
    jwtSecret: { type: 'optional-string', doc: 'Accept login tokens (JWT, HS256/384/512) signed with this secret (32 bytes at least) as the password of a PLAIN login: an application backend signs them for its users, standard clients log in unchanged. The token needs an exp, and `auth.jwtClaim` must name the account. An account a token logs in for is created on its first login.' },
    jwtPublicKey: { type: 'optional-string', doc: 'Instead of jwtSecret: a PEM file with the public key tokens are signed with (RS*, PS*, ES*, EdDSA).' },
    jwksUrl: { type: 'optional-string', doc: "Instead of jwtSecret: an identity provider's JWKS URL (its signing keys, fetched and cached)." },
    jwtIssuer: { type: 'optional-string', doc: 'When set, tokens must carry this iss.' },
    jwtAudience: { type: 'optional-string', doc: 'When set, tokens must carry this aud.' },
    jwtClaim: { type: 'string', default: 'sub', doc: 'The token claim naming the account: its bare JID, or a local part of `auth.jwtDomain`.' },
    jwtDomain: { type: 'optional-string', doc: 'The hosted domain a token claim without @ (a bare local part) names. Default: the only domain when server.hosts has one; with several, such claims are refused unless this is set, so that a token for alice is not alice on every domain.' },
  },
  websocket: {
    port: { type: 'number', default: 5280, integer: true, min: 0, max: 65535, doc: 'Plain WebSocket port (0 disables).' },
    tlsPort: { type: 'number', default: 5443, integer: true, min: 0, max: 65535, doc: 'WebSocket over TLS port (0 disables).' },
    path: { type: 'string', default: '/xmpp-websocket', doc: 'HTTP path of the WebSocket endpoint (RFC 7395).' },
    consideredSecure: { type: 'boolean', default: false, doc: 'Treat plain ws:// as secure (TLS ended at a proxy): allows PLAIN, and host-meta (XEP-0156) links the plain listener as wss:// and https://.' },
  },
  bosh: {
    path: { type: 'string', default: '/http-bind', doc: 'HTTP path of the BOSH endpoint (XEP-0124, XEP-0206), served on the WebSocket ports (plain BOSH counts as secure when `websocket.consideredSecure` is set); empty turns BOSH off.' },
    maxWaitSeconds: { type: 'number', default: 60, integer: true, min: 1, max: 600, doc: 'Longest a BOSH request is held open waiting for something to send (a client asking for longer gets this).' },
    inactivitySeconds: { type: 'number', default: 60, integer: true, min: 5, doc: 'A BOSH session with no request open for this long has lost its client and ends.' },
    maxPauseSeconds: { type: 'number', default: 120, integer: true, min: 1, max: 3600, doc: 'Longest pause a BOSH client may ask for (XEP-0124 §10, announced as maxpause) to keep its session across a gap in which it can send nothing, such as a page reload: until its next request, the session ends after the pause instead of after inactivitySeconds. A longer pause ends the session with policy-violation.' },
    maxQueuedBytes: { type: 'number', default: 2097152, integer: true, min: 65536, doc: 'Bytes of output a BOSH session keeps for a client with no request open; beyond, the client is taken for gone before the inactivity timeout, as with a dead connection: stream management keeps the session for resumption, or its unacknowledged messages go to offline storage.' },
  },
  tls: {
    cert: { type: 'optional-string', doc: 'PEM certificate chain; a self-signed one is generated under dataDir when absent. Read again on SIGHUP.' },
    key: { type: 'optional-string', doc: 'PEM private key for tls.cert.' },
    engine: { type: 'string', default: 'auto', enum: ['auto', 'rustls', 'node'], doc: 'TLS of client connections on TCP (STARTTLS and direct TLS): "rustls" (native/tls, built by `npm install` where Rust\'s cargo is installed) holds ~12 KiB per idle session against Node\'s 27–50 KiB; "auto" uses it when built and Node\'s TLS otherwise, with a warning; "rustls" refuses to start without it. WebSocket, BOSH and s2s use Node\'s TLS.' },
  },
  s2s: {
    enabled: { type: 'boolean', default: false, doc: 'Federate with other XMPP servers (RFC 6120 server-to-server). Off by default so that test and single-purpose instances bind no s2s port.' },
    bind: { type: 'optional-string', doc: 'Address the s2s listeners bind to (default server.bind).' },
    port: { type: 'number', default: 5269, integer: true, min: 0, max: 65535, doc: 'Server-to-server port with STARTTLS (0 disables inbound).' },
    directTlsPort: { type: 'number', default: 0, integer: true, min: 0, max: 65535, doc: 'Server-to-server port with direct TLS, the _xmpps-server SRV target of XEP-0368 (0 disables).' },
    hosts: { type: 'record', default: {}, doc: 'Static routes tried before DNS: { "example.org": "host:port" }, or "xmpps://host:port" for direct TLS.' },
    ca: { type: 'string[]', default: [], doc: 'PEM file(s) of the CAs peer certificates are checked against; empty uses the system roots.' },
    requireValidCertificates: { type: 'boolean', default: false, doc: 'Refuse peers whose certificate is not valid for their domain (no dialback fallback).' },
    dialbackSecret: { type: 'optional-string', doc: 'Secret for XEP-0185 dialback keys, the same on every cluster node (default: derived from the server secret kept in the store).' },
    connectTimeoutSeconds: { type: 'number', default: 30, min: 1, doc: 'Seconds an s2s connection may take to authenticate: an outbound one then bounces its queued stanzas with remote-server-timeout, an inbound one that authenticated no domain is closed (connection-timeout).' },
    idleTimeoutSeconds: { type: 'number', default: 600, min: 1, doc: 'Seconds without traffic after which an s2s stream is closed; told to peers in the inbound stream features as XEP-0478 idle-seconds.' },
    pingAfterSeconds: { type: 'number', default: 60, min: 0, doc: 'Seconds after writing stanzas to a peer server before it is pinged (XEP-0199) to learn whether it read them (sooner once maxQueue stanzas wait for an answer). A peer that gives no answer within connectTimeoutSeconds is taken for dead: its stream is closed and what was written since its last answer returns to the senders as remote-server-timeout, rather than vanishing into a connection whose peer is gone; so does it when the connection is lost without a closing tag, or when the peer ends the stream with a stream error (it handles nothing after the stanza it objected to, and does not say which). 0 turns this off; so does having no s2s listener, since answers come in on the peer\'s stream to us.' },
    maxStanzaSize: { type: 'number', default: 524288, integer: true, min: 1024, doc: 'Largest stanza accepted from a peer server, in characters; told to peers in the inbound stream features as XEP-0478 max-bytes.' },
    maxQueue: { type: 'number', default: 1000, integer: true, min: 1, doc: 'Stanzas queued per remote domain while its connection is being set up.' },
  },
  storage: {
    backend: { type: 'string', default: 'leveldb', enum: ['leveldb', 'memory', 'dynamodb', 'cassandra'], doc: 'Where durable state lives.' },
    path: { type: 'optional-string', doc: 'LevelDB directory (default dataDir/db).' },
    cacheMiB: { type: 'number', default: 32, min: 0, doc: 'LevelDB only: memory for partitions of read-mostly tables (accounts, rosters, offline queues), kept from their second read on, so reconnects read them without a disk hop. 0 turns it off.' },
    createTables: { type: 'boolean', default: true, doc: 'Create missing tables at start-up.' },
    batchDelayMs: { type: 'number', default: 0, min: 0, max: 50, doc: 'Batched writes (archive rows) wait up to this long to share one backend batch; 0 batches per event-loop turn. On LevelDB, rows also wait for the batch being written and go in the next (group commit), so batches grow with load even at 0. At 3,000–5,000 msg/s, 2 ms cut server CPU a little but raised p50 latency from ~1 to ~5 ms.' },
    batchIntervalMs: { type: 'number', default: 1, min: 0, max: 50, doc: 'Batched writes (archive rows) start at most once per this many ms once a burst of 4 back-to-back batches is spent: a lightly loaded server writes at once, a busy one makes fewer, bigger batches (at 7,000 msg/s on one core, 1 ms cut server CPU by about a fifth and raised p50 time-to-delivery from ~1 to ~4 ms). 0 starts a batch whenever the last has landed.' },
    dynamodb: { type: 'record', default: {}, doc: 'DynamoDB: { region, endpoint, tablePrefix, credentials }.' },
    cassandra: { type: 'record', default: {}, doc: 'Cassandra: { contactPoints, localDataCenter, keyspace, replication }.' },
  },
  cluster: {
    redis: { type: 'string[]', default: [], doc: 'Redis URL(s); empty runs a single node with an in-process session table.' },
    redisCluster: { type: 'boolean', default: false, doc: 'The URLs are Redis Cluster seed nodes.' },
    redisSentinel: { type: 'optional-string', doc: 'Redis Sentinel: the master name the sentinels monitor (`mymaster` in sentinel.conf), or redis://user:password@mymaster to give the primary\'s and replicas\' own credentials. `cluster.redis` then lists the sentinels (redis://[user:password@]host:26379), and credentials there are the sentinels\' own (the same in every URL that has them); the primary gets them too unless given here, as redis-rb and Sidekiq take them. Each connection asks a sentinel for the primary, and asks again as soon as a sentinel announces a failover; a wrong or missing password stops the node at start, naming who refused it. Not needed for one URL whose address moves to the new primary on failover (ElastiCache, a VIP): connections still on the demoted primary are made again when it refuses a write (READONLY).' },
    livenessSeconds: { type: 'number', default: 3, min: 1, doc: 'A node silent this long is declared dead.' },
    redisWaitSeconds: { type: 'number', default: 5, min: 0.1, doc: 'How long a stanza, login or room waits for an unreachable Redis. Past it, Redis commands fail at once until Redis answers again: a node routes with its own sessions only (messages for users on other nodes go to offline storage), and writes its session entries back once Redis is back.' },
    seeOtherHost: { type: 'optional-string', doc: 'On shutdown, send clients see-other-host naming this host[:port] instead of system-shutdown (a single node too, e.g. for a blue-green deployment).' },
  },
  modules: {
    enabled: { type: 'string[]', default: [], doc: 'Extra modules to load beside the defaults.' },
    disabled: { type: 'string[]', default: [], doc: 'Default modules not to load; the default modules built on them go too (disabling muc also turns off occupant-id, moderation and muc-retraction).' },
    options: { type: 'record', default: {}, doc: 'Per-module options: { "<module>": { … } }.' },
  },
} as const satisfies Record<string, OptionSpecs>;

export type Sections = typeof SECTIONS;
export type Config = { [K in keyof Sections]: OptionValues<Sections[K]> } & { configDir: string };

const here = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_CONFIG_FILE = resolve(here, '..', 'config', 'default.json');

function readJson(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new ConfigError(`config file ${file} does not exist`);
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${file}: top level must be an object`);
    return v as Record<string, unknown>;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

function merge(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)) merge(cur as Record<string, unknown>, v as Record<string, unknown>);
    else into[k] = v;
  }
}

function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('SORI__') || raw === undefined) continue;
    const path = name.slice(6).split('__');
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // A bare string.
    }
    let node = out;
    for (const seg of path.slice(0, -1)) node = (node[seg] ??= {}) as Record<string, unknown>;
    node[path[path.length - 1]!] = value;
  }
  return out;
}

/**
 * The keys of the backend records (`storage.dynamodb`, `storage.cassandra`), each with its kind, `?` when
 * optional. They are records because their values nest, so resolveOptions does not see into them; unchecked,
 * a misspelt or missing `tablePrefix` gave DynamoDB tables named "undefinedaccounts".
 */
const BACKEND_KEYS: Record<'dynamodb' | 'cassandra', Record<string, string>> = {
  dynamodb: { region: 'string', tablePrefix: 'string', endpoint: 'string?', credentials: 'object?', maxAttempts: 'number?' },
  cassandra: { contactPoints: 'array', localDataCenter: 'string', keyspace: 'string', replication: 'object?', credentials: 'object?' },
};

function checkBackendRecord(backend: keyof typeof BACKEND_KEYS, given: Record<string, unknown>): void {
  const keys = BACKEND_KEYS[backend];
  const path = `storage.${backend}`;
  for (const key of Object.keys(given)) {
    if (!(key in keys)) throw new ConfigError(`${path}.${key}: unknown option (known: ${Object.keys(keys).join(', ')})`);
  }
  for (const [key, kind] of Object.entries(keys)) {
    const value = given[key];
    const optional = kind.endsWith('?');
    if (value === undefined) {
      if (optional) continue;
      throw new ConfigError(`${path}.${key}: required with storage.backend "${backend}"`);
    }
    const expected = optional ? kind.slice(0, -1) : kind;
    const actual = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
    if (actual !== expected) throw new ConfigError(`${path}.${key}: got ${JSON.stringify(value)}, expected ${expected === 'array' ? 'a list' : `a ${expected}`}`);
  }
}

/** Loads and validates configuration; throws ConfigError naming the bad key. */
/**
 * Options that were documented but never read, and where their setting lives now: a config that still sets one
 * is told where to put it instead of being run as if it had effect (or refused with only "unknown option").
 */
const MOVED_OPTIONS: Record<string, Record<string, string>> = {
  c2s: { pingIntervalSeconds: 'modules.options.ping.idleSeconds', pingTimeoutSeconds: 'modules.options.ping.timeoutSeconds' },
};

function refuseMovedOptions(raw: Record<string, unknown>): void {
  for (const [section, moved] of Object.entries(MOVED_OPTIONS)) {
    const given = raw[section];
    if (typeof given !== 'object' || given === null) continue;
    for (const key of Object.keys(given)) {
      const to = moved[key];
      if (to !== undefined) throw new ConfigError(`${section}.${key}: not an option of ${section}; client pings are the ping module's: set ${to}`);
    }
  }
}

export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Record<string, unknown> } = {}): Config {
  const raw: Record<string, unknown> = existsSync(DEFAULT_CONFIG_FILE) ? readJson(DEFAULT_CONFIG_FILE) : {};
  if (opts.file) merge(raw, readJson(opts.file));
  merge(raw, envOverrides(opts.env ?? process.env));
  if (opts.overrides) merge(raw, opts.overrides);
  for (const key of Object.keys(raw)) {
    if (!(key in SECTIONS)) throw new ConfigError(`${key}: unknown section (known: ${Object.keys(SECTIONS).join(', ')})`);
  }
  refuseMovedOptions(raw);
  const out: Record<string, unknown> = { configDir: opts.file ? dirname(resolve(opts.file)) : process.cwd() };
  for (const [section, specs] of Object.entries(SECTIONS)) {
    const given = raw[section];
    if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given))) throw new ConfigError(`${section}: must be an object`);
    out[section] = resolveOptions(specs as OptionSpecs, given as Record<string, unknown> | undefined, section);
  }
  const config = out as Config;
  if (config.server.hosts.length === 0) throw new ConfigError('server.hosts: at least one domain is required');
  const { redisSentinel } = config.cluster;
  // Caught here rather than when the node connects: without sentinels the node would run alone, silently.
  if (redisSentinel !== undefined && config.cluster.redis.length === 0) throw new ConfigError('cluster.redisSentinel: cluster.redis must list the sentinels to ask for the primary');
  if (redisSentinel !== undefined) checkSentinelCredentials(redisSentinel, config.cluster.redis);
  if (redisSentinel !== undefined && config.cluster.redisCluster) throw new ConfigError('cluster.redisSentinel: a Redis Cluster fails over on its own and has no Sentinel; set redisCluster or redisSentinel, not both');
  const { backend } = config.storage;
  if (backend === 'dynamodb' || backend === 'cassandra') checkBackendRecord(backend, config.storage[backend]);
  return config;
}

/** Sentinel's clients (ioredis included) give every sentinel one user and password, so the URLs must agree. */
function checkSentinelCredentials(master: string, sentinels: readonly string[]): void {
  if (master.includes('://')) {
    const url = parseUrl('cluster.redisSentinel', master);
    if (url.protocol !== 'redis:' || url.hostname === '' || url.port !== '' || !['', '/'].includes(url.pathname)) {
      throw new ConfigError(`cluster.redisSentinel: expected a master name or redis://[user:password@]name, got ${url.protocol}//${url.host}${url.pathname}`);
    }
  }
  const given = new Set(sentinels.map((u) => parseUrl('cluster.redis', u)).filter((u) => u.username !== '' || u.password !== '').map((u) => `${u.username}:${u.password}`));
  if (given.size > 1) throw new ConfigError('cluster.redis: the sentinel URLs carry different user:password; every sentinel is sent the same ones');
}

function parseUrl(option: string, value: string): URL {
  try {
    return new URL(value);
  } catch {
    throw new ConfigError(`${option}: not a URL`);
  }
}

export function dataPath(config: Config, ...parts: string[]): string {
  return resolve(config.configDir, config.server.dataDir, join(...parts));
}
