import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { dataPath, type Config } from '../config.js';
import { normaliseDomain, parseJid, tryParseJid, type Jid } from '../util/jid.js';
import { createLogger, type Logger } from '../util/log.js';
import type { OptionSpecs } from '../util/options.js';
import type { XmlElement } from '../util/xml.js';
import type { TableSpec, WideColumnStore } from '../storage/wide-column.js';
import { Accounts, ACCOUNTS_TABLE } from './auth/accounts.js';
import { ServerSecret, SERVER_SECRETS_TABLE } from './auth/server-secret.js';
import { LoginThrottle, type LoginFailures } from './auth/throttle.js';
import { TokenVerifier } from './auth/tokens.js';
import { Hooks } from './hooks.js';
import type { EventMap, EventName } from './events.js';
import type { Identity, ModuleDefinition, NodePostHandler, NodeRequestHandler, ServerApi } from './module.js';
import { ModuleLoader, Registrations } from './module-loader.js';
import { IqDispatcher } from './router/iq-dispatch.js';
import { Router, type Locator, type Resource } from './router/router.js';
import type { ClientSession } from './session.js';
import { SessionRegistry } from './sessions.js';
import { randomHex } from '../util/random-token.js';
import { registerCoreMetrics, type CoreCounters } from '../metrics/core.js';
import { MetricsRegistry } from '../metrics/registry.js';
import { StreamError } from './errors.js';

export function localResource(s: ClientSession): Resource {
  return { full: s.jid.full, priority: s.priority, presence: s.presence, interested: s.interested, session: s, node: null };
}

/** The node-local locator: every session is on this node. Cluster mode replaces it. */
export class LocalLocator implements Locator {
  constructor(
    private readonly nodeId: string,
    private readonly sessions: SessionRegistry,
    private readonly accounts: Accounts,
  ) {}

  resources(bare: string): Resource[] {
    return this.sessions.ofAccount(bare).map(localResource);
  }

  resource(full: string): Resource | null {
    const s = this.sessions.get(full);
    return s === undefined ? null : localResource(s);
  }

  async forward(): Promise<boolean> {
    return false;
  }

  private readonly placed = new Set<string>();

  async placement(key: string, claim: boolean): Promise<string | null> {
    if (claim) this.placed.add(key);
    return this.placed.has(key) ? this.nodeId : null;
  }

  async releasePlacement(key: string): Promise<void> {
    this.placed.delete(key);
  }

  accountExists(jid: Jid): Promise<boolean> {
    return this.accounts.exists(jid);
  }
}

export interface ServerDeps {
  config: Config;
  store: WideColumnStore;
  modules: readonly ModuleDefinition<OptionSpecs>[];
  /** Replaces the node-local locator (cluster mode). */
  locator?: (server: Server) => Locator;
  /** Replaces the node-local count of failed logins (cluster mode: counted for every node). */
  loginFailures?: (server: Server) => LoginFailures;
  log?: Logger;
}

/** A node asking the others to end an account's sessions (deleteAccount); the body is the bare JID. */
const CLOSE_ACCOUNT_TOPIC = 'core/close-account';

/**
 * The XMPP core: sessions, routing, iq dispatch, and the module host. It
 * knows no module by name; what modules register is read back from
 * `registrations`.
 */
export class Server implements ServerApi {
  readonly nodeId: string;
  readonly hosts: readonly string[];
  readonly hooks = new Hooks();
  readonly registrations = new Registrations();
  readonly sessions = new SessionRegistry();
  readonly accounts: Accounts;
  readonly throttle: LoginFailures;
  readonly iqDispatcher: IqDispatcher;
  readonly router: Router;
  readonly log: Logger;
  readonly config: Config;
  readonly store: WideColumnStore;
  /** Every metric of this node; served by the `monitoring` module. */
  readonly metrics = new MetricsRegistry();
  readonly counters: CoreCounters;
  private readonly hostSet: Set<string>;
  /** Domains of module services (MUC on `conference.<host>`): routed like served domains, hosting no accounts. */
  private readonly serviceDomains = new Set<string>();
  private readonly loader: ModuleLoader;
  private readonly moduleDefs: readonly ModuleDefinition<OptionSpecs>[];
  /** Iqs the server sent, by id, with the JID a reply must come from. */
  private readonly pendingIq = new Map<string, { resolve: (el: XmlElement) => void; timer: NodeJS.Timeout; to: string }>();
  locator: Locator;
  /** Login tokens (auth.jwt*), or null when none are configured; set by start(). */
  tokens: TokenVerifier | null = null;
  /** The secret shared by every node (kept in the store); set by start(). */
  private secret: ServerSecret | null = null;
  /** Set once the node has begun to stop: the stream error a client opening a new stream gets. */
  newStreamRefusal: StreamError | null = null;

  constructor(deps: ServerDeps) {
    const { config, store } = deps;
    this.config = config;
    this.store = store;
    this.log = deps.log ?? createLogger('sori');
    this.nodeId = config.server.nodeId ?? `${hostname()}-${process.pid}`;
    this.hosts = config.server.hosts.map(normaliseDomain);
    this.hostSet = new Set(this.hosts);
    this.accounts = new Accounts(store, config.server.admins);
    this.counters = registerCoreMetrics(this.metrics, () => this.sessions.all());
    this.iqDispatcher = new IqDispatcher(this.log.child('iq'));
    this.locator = deps.locator ? deps.locator(this) : new LocalLocator(this.nodeId, this.sessions, this.accounts);
    this.throttle = deps.loginFailures?.(this) ?? new LoginThrottle(config.c2s.maxLoginFailures, config.c2s.loginThrottleSeconds * 1000);
    this.router = new Router(this.hooks, this.iqDispatcher, { resources: (b) => this.locator.resources(b), resource: (f) => this.locator.resource(f), forward: (r, s) => this.locator.forward(r, s), accountExists: (j) => this.locator.accountExists(j) }, (d) => this.servesDomain(d), this.log.child('router'));
    this.moduleDefs = deps.modules;
    this.loader = new ModuleLoader({ server: this, hooks: this.hooks, iq: this.iqDispatcher, registrations: this.registrations, store, log: this.log });
    // Replies to iqs the server itself sent (pings, pubsub publishes) end here.
    const claimReply = (ev: { stanza: XmlElement; from: Jid }): boolean => this.claimIqReply(ev.stanza, ev.from);
    this.hooks.add('iq/host', claimReply, 1000);
    this.hooks.add('iq/bare', claimReply, 1000);
  }

  /** Every table the core and the given modules need. */
  static tables(modules: readonly ModuleDefinition<OptionSpecs>[]): TableSpec[] {
    return [ACCOUNTS_TABLE, SERVER_SECRETS_TABLE, ...ModuleLoader.tables(modules)];
  }

  /** A key for `purpose`, the same on every node of the server and across restarts (see ServerSecret). */
  secretKey(purpose: string): Buffer {
    if (this.secret === null) throw new Error('the server secret is read by start()');
    return this.secret.key(purpose);
  }

  async start(): Promise<void> {
    const a = this.config.auth;
    const keyFile = a.jwtPublicKey === undefined ? undefined : resolve(this.config.configDir, a.jwtPublicKey);
    // A claim that is only a local part names one domain, never whichever one the client logs in to.
    const domain = a.jwtDomain === undefined ? (this.hosts.length === 1 ? this.hosts[0] : undefined) : normaliseDomain(a.jwtDomain);
    if (domain !== undefined && !this.hostSet.has(domain)) throw new Error(`auth.jwtDomain: ${a.jwtDomain} is not one of server.hosts`);
    this.tokens = await TokenVerifier.create({ secret: a.jwtSecret, publicKeyFile: keyFile, jwksUrl: a.jwksUrl, issuer: a.jwtIssuer, audience: a.jwtAudience, claim: a.jwtClaim, domain });
    this.onNodePost(CLOSE_ACCOUNT_TOPIC, (bare) => this.closeAccountSessions(bare));
    if (!a.passwords && this.tokens === null) throw new Error('auth.passwords is false but no login tokens are configured (auth.jwtSecret, auth.jwtPublicKey or auth.jwksUrl): nobody could log in');
    if (this.config.storage.createTables) await this.store.ensureTables(Server.tables(this.moduleDefs));
    this.secret = await ServerSecret.load(this.store);
    await this.loader.start(this.moduleDefs, this.config.modules.options);
    await this.hooks.fireAsync('server/started', {});
  }

  /**
   * Begins a graceful stop: modules hear 'server/draining', and clients that
   * open a stream from now on are turned away at once (see-other-host when
   * `redirect` names where to go, else system-shutdown) rather than logging
   * in only to be closed when the grace period ends. Sessions already
   * authenticated carry on.
   */
  async beginDrain(redirect?: string): Promise<void> {
    this.newStreamRefusal = redirect === undefined
      ? new StreamError('system-shutdown', 'this node is stopping')
      : new StreamError('see-other-host', 'this node is stopping', redirect);
    await this.emit('server/draining', {});
  }

  /** Ends every local session with the stream error new streams get while stopping (system-shutdown unless beginDrain named a redirect). */
  endSessionsForShutdown(reason: string): void {
    const ending = this.newStreamRefusal ?? new StreamError('system-shutdown');
    for (const s of [...this.sessions.all()]) s.close(ending.condition, reason, ending.content);
  }

  async stop(): Promise<void> {
    await this.hooks.fireAsync('server/stopping', {});
    await this.loader.stopAll();
    for (const p of this.pendingIq.values()) clearTimeout(p.timer);
  }

  /** Creates an account and tells modules; false when it exists already. */
  async createAccount(jid: Jid, password: string | null): Promise<boolean> {
    const created = await this.accounts.create(jid.toBare(), password);
    if (created) await this.hooks.fireAsync('account/created', { jid: jid.toBare() });
    return created;
  }

  /** Removes an account and everything modules keep for it, and ends its sessions on every node. */
  async deleteAccount(jid: Jid): Promise<void> {
    const bare = jid.toBare();
    this.closeAccountSessions(bare.bare);
    if (this.clustered) {
      const nodes = new Set<string>();
      for (const r of await this.resources(bare.bare)) if (r.node !== null) nodes.add(r.node);
      for (const node of nodes) await this.nodePost(node, CLOSE_ACCOUNT_TOPIC, bare.bare);
    }
    await this.accounts.remove(bare);
    await this.hooks.fireAsync('account/deleted', { jid: bare });
  }

  private closeAccountSessions(bare: string): void {
    for (const s of [...this.sessions.ofAccount(bare)]) s.close('not-authorized', 'account removed');
  }

  moduleNames(): string[] {
    return this.loader.names();
  }

  get bindAddress(): string {
    return this.config.server.bind;
  }

  get httpsPort(): number {
    return this.config.websocket.tlsPort;
  }

  dataPath(...parts: string[]): string {
    return dataPath(this.config, ...parts);
  }

  get passwordLogins(): boolean {
    return this.config.auth.passwords;
  }

  get connectionPaths(): { websocket: string; bosh: string; tlsAtProxy: boolean } {
    return { websocket: this.config.websocket.path, bosh: this.config.bosh.path, tlsAtProxy: this.config.websocket.consideredSecure };
  }

  isLocalDomain(domain: string): boolean {
    return this.hostSet.has(domain);
  }

  /** A hosted domain or a module service's domain (MUC): everything other servers may address here. */
  servesDomain(domain: string): boolean {
    return this.hostSet.has(domain) || this.serviceDomains.has(domain);
  }

  addServiceDomain(domain: string): () => void {
    const d = normaliseDomain(domain);
    if (this.hostSet.has(d) || this.serviceDomains.has(d)) throw new Error(`${d} is already served`);
    this.serviceDomains.add(d);
    return () => void this.serviceDomains.delete(d);
  }

  async route(stanza: XmlElement, origin: ClientSession | null = null): Promise<void> {
    const from = stanza.attrs.from;
    if (from === undefined) throw new Error('server.route needs a stanza with from');
    await this.router.route(stanza, parseJid(from), origin);
  }

  /** Sends an iq from the server and resolves with the reply (or an error iq on timeout). */
  sendIq(stanza: XmlElement, timeoutMs = 30_000): Promise<XmlElement | null> {
    const id = stanza.attrs.id ?? `sori-${randomHex(6)}`;
    stanza.attrs.id = id;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingIq.delete(id);
        resolve(null);
      }, timeoutMs);
      timer.unref();
      const to = stanza.attrs.to;
      this.pendingIq.set(id, { resolve, timer, to: tryParseJid(to)?.full ?? to ?? '' });
      this.route(stanza).catch((e: unknown) => this.log.error('sendIq route failed', e));
    });
  }

  /** RFC 6120 §8.2.3: a reply is the one with the request's id from the entity asked; anyone else's is not taken for it. */
  private claimIqReply(stanza: XmlElement, from: Jid): boolean {
    const t = stanza.attrs.type;
    if (t !== 'result' && t !== 'error') return false;
    const id = stanza.attrs.id;
    if (id === undefined) return false;
    const p = this.pendingIq.get(id);
    if (p === undefined || p.to !== from.full) return false;
    this.pendingIq.delete(id);
    clearTimeout(p.timer);
    p.resolve(stanza);
    return true;
  }

  resources(bare: string): Resource[] | Promise<Resource[]> {
    return this.locator.resources(bare);
  }

  async deliver(resource: Resource, stanza: XmlElement): Promise<boolean> {
    if (resource.session !== null) {
      resource.session.send(stanza);
      return true;
    }
    return this.locator.forward(resource, stanza);
  }

  nodeRequest(node: string, topic: string, body: string, timeoutMs: number): Promise<string | null> {
    return this.locator.request === undefined ? Promise.resolve(null) : this.locator.request(node, topic, body, timeoutMs);
  }

  onNodeRequest(topic: string, handler: NodeRequestHandler): () => void {
    return this.locator.answer === undefined ? () => {} : this.locator.answer(topic, handler);
  }

  get clustered(): boolean {
    return this.locator.post !== undefined;
  }

  placement(key: string, claim: boolean): Promise<string | null> {
    return this.locator.placement(key, claim);
  }

  releasePlacement(key: string): Promise<void> {
    return this.locator.releasePlacement(key);
  }

  nodePost(node: string, topic: string, body: string): Promise<boolean> {
    return this.locator.post === undefined ? Promise.resolve(false) : this.locator.post(node, topic, body);
  }

  async clusterNodes(): Promise<string[]> {
    return this.locator.nodes === undefined ? [this.nodeId] : this.locator.nodes();
  }

  onNodePost(topic: string, handler: NodePostHandler): () => void {
    return this.locator.onPost === undefined ? () => {} : this.locator.onPost(topic, handler);
  }

  emit<E extends EventName>(event: E, payload: EventMap[E]): Promise<boolean> {
    return this.hooks.fireAsync(event, payload);
  }

  localSessions(bare: string): readonly ClientSession[] {
    return this.sessions.ofAccount(bare);
  }

  localSession(full: string): ClientSession | undefined {
    return this.sessions.get(full);
  }

  sessionCount(): number {
    return this.sessions.size;
  }

  allSessions(): Iterable<ClientSession> {
    return this.sessions.all();
  }

  features(): string[] {
    return [...this.registrations.hostFeatures];
  }

  accountFeatures(): string[] {
    return [...this.registrations.accountFeatures];
  }

  identities(): Identity[] {
    return [...this.registrations.identities];
  }

  infoExtensions(): XmlElement[] {
    return [...this.registrations.infoExtensions];
  }
}
