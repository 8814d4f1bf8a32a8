import type { Jid } from '../util/jid.js';
import type { XmlElement } from '../util/xml.js';
import type { Table, TableSpec } from '../storage/wide-column.js';
import type { EventName, HookHandler } from './events.js';
import type { ClientSession, OutgoingFilter } from './session.js';
import type { Logger } from '../util/log.js';
import type { OptionSpecs, OptionValues } from '../util/options.js';
import type { MetricsApi } from '../metrics/registry.js';

/** A request addressed to the server or to an account, handed to an iq handler. */
export interface IqRequest {
  stanza: XmlElement;
  /** The child element in the handler's namespace. */
  payload: XmlElement;
  from: Jid;
  /** Where it was addressed (the sender's bare JID when `to` was absent). */
  to: Jid;
  /** True when a user addresses their own account (or the request had no `to`). */
  isSelf: boolean;
  /** The local session that sent it, when it came from one on this node. */
  origin: ClientSession | null;
}

/**
 * Result of an iq handler: an element becomes the payload of the result, void
 * or null an empty result. Throw a StanzaError for an error reply.
 */
export type IqHandler = (req: IqRequest) => XmlElement | null | void | Promise<XmlElement | null | void>;

/** Which addresses an iq handler answers for. */
export type IqScope = 'host' | 'account' | 'both';

export interface Identity {
  category: string;
  type: string;
  name?: string;
}

/** Stream features are offered at three points of a c2s stream. */
export type FeatureStage = 'pre-auth' | 'post-auth';

export interface StreamContext {
  /** Whether the connection is encrypted (or considered so). */
  secure: boolean;
  transport: 'tcp' | 'websocket' | 'bosh';
  host: string;
}

/** A top-level non-stanza element from a client (SM `<r/>`, CSI `<inactive/>` …). */
export type StreamElementHandler = (session: ClientSession, element: XmlElement) => void | Promise<void>;

/**
 * Handles an XEP-0386 Bind2 inline request (`<enable xmlns='urn:xmpp:sm:3'/>`,
 * `<inactive xmlns='urn:xmpp:csi:0'/>`…) for a session that has just been
 * bound inline; an element returned goes into `<bound/>`.
 */
export type Bind2FeatureHandler = (session: ClientSession, element: XmlElement) => XmlElement | null | void | Promise<XmlElement | null | void>;

/** Handler for a top-level element that arrives before a resource is bound (SM `<resume/>`). */
export type PreBindElementHandler = (element: XmlElement, stream: PreBindStream) => void | Promise<void>;

/** Serves one HTTP request (XEP-0363 uploads…). */
export type HttpRouteHandler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;

/** A stream that has not authenticated yet (XEP-0077 registration happens here). */
export interface PreAuthStream {
  readonly host: string;
  readonly secure: boolean;
  readonly remoteAddress: string;
  sendRaw(el: XmlElement): void;
}

/** Handler for an iq sent before authentication, keyed by its payload namespace. */
export type PreAuthIqHandler = (iq: XmlElement, stream: PreAuthStream) => void | Promise<void>;

/** What a module may do with a stream that is authenticated but not yet bound. */
export interface PreBindStream {
  readonly username: string;
  readonly host: string;
  readonly secure: boolean;
  sendRaw(el: XmlElement): void;
  /** Attach this connection to an existing (hibernated) session instead of binding a new one. */
  adoptSession(session: ClientSession): void;
  /**
   * Binds `resource` without a bind request, for a session handed over by
   * another cluster node (XEP-0198 resumption): the session is registered
   * here; 'session/bound' is left to the caller, once it has set the state.
   */
  bindHandedOver(resource: string): ClientSession;
  close(condition?: import('./errors.js').StreamErrorCondition, text?: string): void;
}

/** A resource of an account that can receive stanzas: on this node, or on another cluster node. */
export interface Resource {
  full: string;
  /** Priority of its available presence; null while it has sent none (RFC 6121 "available resource" = non-null). */
  priority: number | null;
  /** Its current available presence, or null. */
  presence: XmlElement | null;
  /** Has requested the roster (receives roster pushes). */
  interested: boolean;
  /** Set when the session is on this node. */
  session: ClientSession | null;
  /** Node holding it when remote. */
  node: string | null;
  /** Remote resources only (local ones are read from `session`): XEP-0280 carbons enabled (session key CARBONS_ENABLED). */
  carbons?: boolean;
  /** Remote resources only: the connection is gone and an XEP-0198 session waits for resumption (`session.connected === false` locally). */
  hibernated?: boolean;
}

/** Answers a request from another cluster node; null is "no answer". */
export type NodeRequestHandler = (body: string, fromNode: string) => string | null | Promise<string | null>;

/**
 * Receives a post from another cluster node (ServerApi.nodePost). Posts are
 * handled one at a time in the order sent; one that a dead node never handled
 * is handed to the node that cleaned up after it, with `fromNode` the sender.
 */
export type NodePostHandler = (body: string, fromNode: string) => void | Promise<void>;

/** The server as modules see it. */
export interface ServerApi {
  readonly nodeId: string;
  /** Domains this server hosts. */
  readonly hosts: readonly string[];
  /** The address the server's listeners bind to (`server.bind`), for modules that listen on a port of their own. */
  readonly bindAddress: string;
  /** The WebSocket TLS port (`websocket.tlsPort`; 0: none), where HTTP routes (`ctx.httpRoute`) are served over TLS. */
  readonly httpsPort: number;
  /** A path under the configured data directory (server.dataDir), for modules that keep files (uploads). */
  dataPath(...parts: string[]): string;
  isLocalDomain(domain: string): boolean;
  /** A hosted domain, or a service's (addServiceDomain: MUC, pubsub, components): every domain other servers may address here. */
  servesDomain(domain: string): boolean;
  /**
   * Makes `domain` routable to modules although it hosts no accounts (a MUC
   * service on `conference.<host>`): stanzas to it fire `<kind>/host|bare|full`
   * as for a served domain, and the module hooking them must claim them all.
   * `isLocalDomain` stays false for it. Returns the undo (pass it to onStop).
   */
  addServiceDomain(domain: string): () => void;
  /** Routes a stanza whose `from` and `to` are already set, as if the server sent it. */
  route(stanza: XmlElement, origin?: ClientSession | null): Promise<void>;
  /**
   * Every resource of an account, on this node and (in a cluster) on others:
   * an array at once on a single node, a promise when the cluster's session
   * table must be read. Hooks on the message path look at it without a
   * promise when they can (`andThen` in util/maybe-async.ts).
   */
  resources(bare: string): Resource[] | Promise<Resource[]>;
  /**
   * Hands a stanza, as it is, to one resource from `resources()`: written to
   * the local session, or sent to the cluster node holding it, without routing
   * (no hooks run again). False when a remote node could not take it.
   */
  deliver(resource: Resource, stanza: XmlElement): Promise<boolean>;
  /**
   * Cluster only: sends `body` to the handler of `topic` on `node` and resolves
   * with its answer, or null when the node is not alive, has no handler, or
   * does not answer within `timeoutMs` (always null on a single node).
   */
  nodeRequest(node: string, topic: string, body: string, timeoutMs: number): Promise<string | null>;
  /** Answers `nodeRequest`s of `topic` from other nodes; returns the undo (pass it to onStop). */
  onNodeRequest(topic: string, handler: NodeRequestHandler): () => void;
  /** True when this node is one of a cluster: placements and posts then span nodes. */
  readonly clustered: boolean;
  /**
   * Which node holds `key`, among things that live on one node at a time (a
   * MUC room, a component's domain): a node id, or null when none does. With
   * `claim`, a key nobody holds is taken for this node, so the answer is never
   * null. A dead node's keys are released when the cluster cleans up after it.
   */
  placement(key: string, claim: boolean): Promise<string | null>;
  /** Gives up `key` if this node holds it. */
  releasePlacement(key: string): Promise<void>;
  /**
   * Cluster only: queues `body` for the `topic` handler on `node`, in order
   * after this node's earlier posts there. False when the node is not alive
   * (always false on a single node).
   */
  nodePost(node: string, topic: string, body: string): Promise<boolean>;
  /** Handles `nodePost`s of `topic` from other nodes; returns the undo (pass it to onStop). */
  onNodePost(topic: string, handler: NodePostHandler): () => void;
  /**
   * Every node of the cluster, this one included (`[nodeId]` on a single node), for what must reach all of them
   * (an announcement to every online user): `nodePost` to each. One read of the cluster's node registry.
   */
  clusterNodes(): Promise<string[]>;
  /** Fires an event for other modules (e.g. account/deleted). */
  emit<E extends EventName>(event: E, payload: import('./events.js').EventMap[E]): Promise<boolean>;
  /** Bound sessions of an account on this node. */
  localSessions(bare: string): readonly ClientSession[];
  /** A bound session on this node by full JID. */
  localSession(full: string): ClientSession | undefined;
  /** Number of bound sessions on this node. */
  sessionCount(): number;
  /** Every bound session on this node. */
  allSessions(): Iterable<ClientSession>;
  /** Sends an iq from the server and resolves with the reply (a result or an error), or with null when none came within `timeoutMs`. */
  sendIq(stanza: XmlElement, timeoutMs?: number): Promise<XmlElement | null>;
  /** Creates an account and fires account/created; false when it exists. */
  /** Creates an account and tells modules (account/created); without a password (null) it logs in with tokens only. False when it exists. */
  createAccount(jid: Jid, password: string | null): Promise<boolean>;
  /** Removes an account, fires account/deleted so modules delete its data, ends its sessions. */
  deleteAccount(jid: Jid): Promise<void>;
  /** Account store (the core's auth backend). */
  readonly accounts: AccountsApi;
  /** Whether accounts log in with passwords sori keeps (`auth.passwords`); false when logins are tokens only. */
  readonly passwordLogins: boolean;
  /**
   * HTTP paths of the WebSocket (RFC 7395) and BOSH (XEP-0206) endpoints on
   * the HTTP listeners ('' when off), and whether clients reach the plain
   * listener through a proxy that ends TLS (`websocket.consideredSecure`), so
   * that its public URLs are wss:// and https://.
   */
  readonly connectionPaths: { readonly websocket: string; readonly bosh: string; readonly tlsAtProxy: boolean };
  /** This node's metrics: modules register their own counters and gauges (names `sori_<module>_…`). */
  readonly metrics: MetricsApi;
  /** Disco features registered by every loaded module. */
  features(): string[];
  /** Disco features registered with scope 'account' or 'both' (what an account's bare JID supports). */
  accountFeatures(): string[];
  identities(): Identity[];
  /** Extra disco#info forms (XEP-0128), e.g. contact addresses. */
  infoExtensions(): XmlElement[];
}

export interface AccountsApi {
  exists(jid: Jid): Promise<boolean>;
  create(jid: Jid, password: string | null): Promise<boolean>;
  setPassword(jid: Jid, password: string): Promise<void>;
  remove(jid: Jid): Promise<void>;
  list(domain: string): Promise<string[]>;
  verifyPassword(jid: Jid, password: string): Promise<boolean>;
  isAdmin(jid: Jid): boolean;
}

/** What `start` receives. Every registration is recorded and undone when the module stops. */
export interface ModuleContext<O extends OptionSpecs = OptionSpecs> {
  readonly name: string;
  readonly options: OptionValues<O>;
  readonly log: Logger;
  readonly server: ServerApi;

  /** Advertise a disco#info feature for the server (and for accounts with scope 'account'/'both'). */
  feature(ns: string, scope?: IqScope): void;
  identity(identity: Identity): void;
  /** XEP-0128 extended info for the server's disco#info. */
  infoExtension(form: XmlElement): void;
  /** Answer iq of `type` whose payload is `<element xmlns=ns>` (element '*' for any name in ns). */
  iq(type: 'get' | 'set', ns: string, element: string, handler: IqHandler, scope?: IqScope): void;
  hook<E extends EventName>(event: E, handler: HookHandler<E>, priority?: number): void;
  /** Offer a stream feature; return null to not offer it on this stream. */
  streamFeature(stage: FeatureStage, build: (stream: StreamContext) => XmlElement | null): void;
  /**
   * Add a child to the `<limits xmlns='urn:xmpp:stream-limits:0'/>` a client is
   * offered after authentication (XEP-0478), for a limit this module enforces
   * (`idle-seconds`: the ping module's liveness checks). One element holds
   * them all, with the core's `max-bytes`, hence not a streamFeature of its own.
   */
  streamLimit(name: 'idle-seconds', value: number): void;
  /** Handle top-level elements of a namespace on bound sessions. */
  streamElement(ns: string, handler: StreamElementHandler): void;
  /** Handle top-level elements of a namespace after auth, before bind (SM resume). */
  preBindElement(ns: string, handler: PreBindElementHandler): void;
  /**
   * Offer an element in XEP-0388 SASL2's `<inline/>` (SM's `<sm/>`). What a
   * client puts in `<authenticate/>` in that namespace goes to the
   * namespace's pre-bind handler, and what the handler sends back goes into `<success/>`.
   */
  sasl2Inline(feature: XmlElement): void;
  /** Offer `ns` as an XEP-0386 Bind2 inline feature, handled for sessions bound inline. */
  bind2Feature(ns: string, handler: Bind2FeatureHandler): void;
  /** Answer iqs with a payload in `ns` on streams that have not authenticated (XEP-0077). */
  preAuthIq(ns: string, handler: PreAuthIqHandler): void;
  /**
   * Serve HTTP requests for `path` on the server's HTTP listeners; a path ending in '/' serves everything under it.
   * `decidesContinue`: a request with `Expect: 100-continue` reaches the handler before 100 Continue is sent, and
   * the handler calls `res.writeContinue()` once it wants the body, so a request it refuses sends none (uploads);
   * other routes get their 100 at once, as Node sends it.
   */
  httpRoute(path: string, handler: HttpRouteHandler, opts?: { decidesContinue?: boolean }): void;
  /** Filter stanzas written to clients (priority: higher first). */
  outgoingFilter(filter: OutgoingFilter, priority?: number): void;
  /** Open one of the tables this module declared. */
  table(name: string): Table;
  /** Runs fn every `ms` milliseconds until the module stops. */
  every(ms: number, fn: () => void | Promise<void>): void;
  /** Publish this module's API for modules that depend on it. */
  provide<T extends object>(api: T): void;
  /** The API of a module named in `depends`. */
  use<T extends object>(moduleName: string): T;
  /** The API of a module named in `optionalDepends`, or null when that module is not loaded. */
  useIfLoaded<T extends object>(moduleName: string): T | null;
  onStop(fn: () => void | Promise<void>): void;
}

export interface ModuleDefinition<O extends OptionSpecs = OptionSpecs> {
  /** Short name used in config: `modules: { <name>: { …options } }`. */
  name: string;
  /** Spec or RFC it implements, for docs. */
  implements: string;
  /** Modules that must be started before this one. */
  depends?: string[];
  /**
   * Modules this one works with when the config loads them too (ejabberd's soft dependencies): started before
   * it then, and reached with `ctx.useIfLoaded`; without them it does less, and still starts.
   */
  optionalDepends?: string[];
  /** Declared options with defaults and validation. */
  options?: O;
  /** Tables this module keeps its data in. */
  tables?: TableSpec[];
  /** Loaded unless config disables it. */
  defaultEnabled?: boolean;
  start(ctx: ModuleContext<O>): void | Promise<void>;
}

/**
 * Declares a module. Options are type-checked against their declaration
 * inside `start`; the result is erased to the common shape the loader takes
 * (the loader validates option values against the same declaration).
 */
export function defineModule<O extends OptionSpecs>(def: ModuleDefinition<O>): ModuleDefinition {
  return def as unknown as ModuleDefinition;
}
