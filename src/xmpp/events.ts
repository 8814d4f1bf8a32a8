import type { Jid } from '../util/jid.js';
import type { XmlElement } from '../util/xml.js';
import type { ClientSession } from './session.js';

/**
 * Every hook of sori, with its payload. A handler returning `true` stops the
 * chain ("handled"); anything else lets lower-priority handlers run. Higher
 * priority runs first.
 *
 * Routing events are named `<kind>/<target>` after Prosody's:
 *  - `/host`  stanza addressed to a served domain itself (or to nothing);
 *  - `/bare`  addressed to an account's bare JID on a served domain;
 *  - `/full`  addressed to a full JID on a served domain;
 * They fire for every stanza delivered on this node, whether it came from a
 * local client, another cluster node or a federated server.
 */
export interface RouteEvent {
  stanza: XmlElement;
  /** Stamped, trusted sender. */
  from: Jid;
  /** Parsed `to`; for stanzas without one, the sender's bare JID (RFC 6120 §10.3) or the domain. */
  to: Jid;
  /** The local client session the stanza came from, or null (remote node, s2s, the server itself). */
  origin: ClientSession | null;
}

export interface SessionEvent {
  session: ClientSession;
}

/** The session's full JID was bound on another cluster node, `node`. */
export interface SessionReplacedEvent {
  session: ClientSession;
  node: string;
}

export interface SessionClosedEvent {
  session: ClientSession;
  /** Why it ended, for logs; null for a clean close. */
  reason: string | null;
  /** True when the connection broke without a stream close (network loss, kill). */
  unclean: boolean;
}

export interface AccountEvent {
  /** The account's bare JID. */
  jid: Jid;
}

export interface StanzaInEvent {
  session: ClientSession;
  stanza: XmlElement;
}

/** A message that could not be delivered to any resource and is to be kept for later. */
export interface OfflineEvent {
  stanza: XmlElement;
  to: Jid;
  /**
   * Set when the message had already been routed to a session and is only now
   * moved to offline storage (XEP-0198: unacknowledged when the session ended).
   * It was archived on its way in: archivers must not store it again.
   */
  requeued?: boolean;
  /**
   * With `requeued`: the stanza as it was written to the session, when `stanza` is a copy of it (stream
   * management adds its `<delay/>` to a clone). Hooks that know a message by its object find it through
   * this: push, which has no other way to tell a copy of a message without an id from another message
   * with the same text.
   */
  copyOf?: XmlElement;
}

/** Fired just before a stanza is written to a client (after CSI/SM filters). */
export interface StanzaOutEvent {
  session: ClientSession;
  stanza: XmlElement;
}

/** A session that ended without its node closing it (that cluster node died). */
export interface LostSession {
  jid: Jid;
  /** It had sent available presence, so its contacts must now hear it is unavailable (RFC 6121 §4.5). */
  available: boolean;
  /** Full JIDs it had sent directed presence to, which must hear it too (RFC 6121 §4.6.3). */
  directed: string[];
}

/** Fired on the one surviving node that cleaned up after a dead cluster node. */
export interface SessionsLostEvent {
  node: string;
  sessions: LostSession[];
}

export interface ReconnectedEvent {
  /**
   * A survivor had declared this node dead and cleaned up after it (it was only paused or cut off): its
   * sessions were announced unavailable to their contacts and directed-presence targets, and MUC rooms
   * dropped them. False when Redis lost the entries (restarted empty) and nobody was told anything.
   */
  declaredDead: boolean;
}

/** An item was published to an account's PEP node (XEP-0163). */
export interface PepPublishedEvent {
  owner: Jid;
  node: string;
  itemId: string;
  payload: XmlElement;
}

/** The items of an account's PEP node changed: published, retracted, purged or the node deleted. */
export interface PepNodeChangedEvent {
  owner: Jid;
  node: string;
}

/** An account stored private XML (XEP-0049) under `namespace`: the elements as stored. */
export interface PrivateStoredEvent {
  owner: Jid;
  namespace: string;
  elements: XmlElement[];
}

/** An account added JIDs to its block list (XEP-0191): the `<item/>` elements of its request, whatever they carry (XEP-0377 reports). */
export interface BlockedEvent {
  owner: Jid;
  items: XmlElement[];
}

/** An account's vCard (XEP-0054) was set, or cleared (null), by its owner. */
export interface VcardUpdatedEvent {
  owner: Jid;
  vcard: XmlElement | null;
}

export interface EventMap {
  /** A client stanza, `from` already stamped, before routing. */
  'stanza/in': StanzaInEvent;
  'message/host': RouteEvent;
  'message/bare': RouteEvent;
  'message/full': RouteEvent;
  'presence/host': RouteEvent;
  'presence/bare': RouteEvent;
  'presence/full': RouteEvent;
  'iq/host': RouteEvent;
  'iq/bare': RouteEvent;
  'iq/full': RouteEvent;
  /** A stanza for a domain this server does not serve. Federation hooks it; unhandled means remote-server-not-found. */
  'route/remote': RouteEvent;
  /** A message for an account with no resource to take it (offline storage, push). */
  'message/offline': OfflineEvent;
  /**
   * A message for an account was turned back with an error after it had been
   * accepted on its way in: no session and no offline storage took it (full,
   * failing, or none loaded). Modules that kept a copy (the archive) take it back.
   */
  'message/refused': OfflineEvent;
  /** A message has been written to a client (for carbons, push bookkeeping). */
  'message/delivered': StanzaOutEvent;
  /** A resource was bound: the session is now addressable. */
  'session/bound': SessionEvent;
  /** The session's first available presence went out (RFC 6121 §4.2). */
  'session/available': SessionEvent;
  /**
   * The connection under a bound session broke without a stream close. A
   * handler returning true keeps the session (stream management hibernation);
   * otherwise the session closes and 'session/closed' follows.
   */
  'session/disconnected': SessionClosedEvent;
  'session/closed': SessionClosedEvent;
  /**
   * A session whose connection broke is kept for XEP-0198 resumption (fired
   * once it has no connection; the cluster session table marks it hibernated).
   */
  'session/hibernated': SessionEvent;
  /** A hibernated (or still attached) session was taken over by a new connection (XEP-0198 resumption). */
  'session/resumed': SessionEvent;
  /**
   * Cluster: the session's full JID was bound on another node, which wins
   * (RFC 6120 §7.7.2.2). A handler returning true has dealt with the session
   * (stream management handing it over for resumption there); otherwise it is
   * closed with `conflict`.
   */
  'session/replaced': SessionReplacedEvent;
  /** The session's presence, priority or roster interest changed (the cluster session table follows it). */
  'session/presence': SessionEvent;
  /** The JIDs the session sent directed presence to changed (DIRECTED_PRESENCE; the cluster session table follows it). */
  'session/directed': SessionEvent;
  /**
   * Sessions of a dead cluster node: the presence module tells their contacts, and whoever they had sent
   * directed presence to (MUC rooms they were in among them), that they are unavailable.
   */
  'cluster/sessions-lost': SessionsLostEvent;
  /**
   * This node's sessions were missing from the cluster for a while (Redis
   * restarted, or the node was declared dead and came back): their presence is
   * announced again.
   */
  'cluster/reconnected': ReconnectedEvent;
  /**
   * This node leaves the cluster on purpose (a graceful stop): its sessions
   * are closed and the node bus still carries what is sent now. The MUC
   * module lets its rooms go to other nodes.
   */
  'cluster/leaving': Record<string, never>;
  'pep/published': PepPublishedEvent;
  'pep/node-changed': PepNodeChangedEvent;
  'private/stored': PrivateStoredEvent;
  'vcard/updated': VcardUpdatedEvent;
  'blocking/blocked': BlockedEvent;
  'account/created': AccountEvent;
  /** The account was removed: every module deletes what it kept for it. */
  'account/deleted': AccountEvent;
  'server/started': Record<string, never>;
  'server/stopping': Record<string, never>;
  /** The node is about to stop: sessions are still open for `server.shutdownGraceSeconds`, new clients should go elsewhere. */
  'server/draining': Record<string, never>;
}

export type EventName = keyof EventMap;
export type HookHandler<E extends EventName> = (event: EventMap[E]) => boolean | void | Promise<boolean | void>;
