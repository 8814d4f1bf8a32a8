import type { Jid } from '../util/jid.js';
import type { XmlElement } from '../util/xml.js';
import type { StreamErrorCondition } from './errors.js';

let nextKeyId = 0;

/**
 * A typed slot in a session for module state (carbons on, CSI state, SM
 * counters…). Sessions store slots in an array indexed by key id, so modules
 * add state without the core knowing their names and without reshaping the
 * session object.
 */
/**
 * RFC 6121 §8.5.2.1.1: whether a resource is one a message to the bare JID
 * reaches (available, with a priority that is not negative). The router
 * delivers by it, and modules that reason about who got such a message
 * (carbons, offline storage, push, stream management) must agree with it.
 */
export function takesBareJidMessages(r: { readonly priority: number | null }): boolean {
  return r.priority !== null && r.priority >= 0;
}

export class SessionKey<T> {
  readonly id = nextKeyId++;
  constructor(readonly name: string) {}
  /** Phantom field for type inference only. */
  declare readonly _type?: T;
}

/** How many keys exist: modules declare theirs when loaded, before any session, so a session's slots are made at this size. */
export function sessionKeyCount(): number {
  return nextKeyId;
}

/**
 * XEP-0280 carbons enabled on a session. Declared here rather than in the
 * carbons module because the cluster session table mirrors it
 * (SessionEntry.carbons → Resource.carbons); the module fires
 * 'session/presence' when it changes.
 */
export const CARBONS_ENABLED = new SessionKey<boolean>('carbons');

/**
 * Set on a session by a module that learns when the client has handled what
 * was written to it (XEP-0198 acknowledgements). Declared here because the
 * cluster keeps a stanza forwarded from another node in its durable inbox
 * until then, so that it survives this node's crash.
 */
export interface ClientAcks {
  /**
   * Resolves once the client has acknowledged everything written to it so
   * far, or the session ended or moved to another node and what it had not
   * acknowledged was passed on (offline storage, or the other node).
   */
  untilHandled(): Promise<void>;
}
export const CLIENT_ACKS = new SessionKey<ClientAcks>('client-acks');

/**
 * Set by the archive (XEP-0313) once the session has queried the user's whole
 * archive, not one conversation or a list of ids: the client catches up from
 * there. Stream management then leaves archived messages the client never
 * acknowledged out of offline storage (the next login would show them twice).
 * Declared here because the two modules do not know each other.
 */
export const ARCHIVE_QUERIED = new SessionKey<boolean>('archive-queried');

/**
 * Full JIDs a session sent directed presence to (RFC 6121 §4.6), which must hear its unavailable.
 * Kept by the presence module; declared here because the cluster session table mirrors it
 * (SessionEntry.directed), so that should this node die, the node that cleans up after it can tell
 * them. The module fires 'session/directed' when the set changes.
 */
export const DIRECTED_PRESENCE = new SessionKey<Set<string>>('presence.directed');

/**
 * For each full JID in DIRECTED_PRESENCE: the last available presence sent to it, or null when it is a MUC
 * room the session joined (its first presence there carried the MUC `<x/>`). Kept by the presence module
 * (rfc6121-presence/directed.ts says how it is used); declared here because stream management carries it,
 * with DIRECTED_PRESENCE, to the node a session is resumed on.
 */
export const LAST_DIRECTED = new SessionKey<Map<string, XmlElement | null>>('presence.directed-last');

/** Filters run on every stanza about to be written to a client; return null to hold it back. */
export type OutgoingFilter = (session: ClientSession, stanza: XmlElement) => XmlElement | null;

/**
 * What modules see of a client session. Only bound sessions (with a full JID)
 * are handed to modules.
 */
export interface ClientSession {
  readonly id: string;
  /** Full JID once a resource is bound. */
  readonly jid: Jid;
  readonly host: string;
  readonly transport: 'tcp' | 'websocket' | 'bosh';
  readonly secure: boolean;
  readonly remoteAddress: string;
  /** Priority of the last available presence, or null if none was sent. */
  priority: number | null;
  /** Last available presence the client broadcast, or null (unavailable / none yet). */
  presence: XmlElement | null;
  /** The client has requested its roster (RFC 6121 §2.1.1 "interested resource"). */
  interested: boolean;
  /** False once the session has ended. */
  readonly open: boolean;
  /** False while hibernated: the session exists but has no connection (XEP-0198). */
  readonly connected: boolean;
  /** Time (ms) the client last sent anything. */
  readonly lastActivity: number;
  /** Stanzas (message, presence, iq) received from the client so far: the basis of XEP-0198's inbound 'h'. */
  readonly stanzasIn: number;

  /** Writes a stanza through the outgoing filters. */
  send(stanza: XmlElement): void;
  /** Writes an element bypassing the filters (stream-level elements such as SM acks). */
  sendRaw(element: XmlElement): void;
  /** Ends the stream, with a stream error when a condition is given. */
  close(condition?: StreamErrorCondition, text?: string, content?: string): void;
  /**
   * Takes the connection for dead (it did not answer a ping): closes it with
   * this stream error, in case the client still reads, and goes on as for a
   * connection that broke, so stream management may keep the session for the
   * client to resume (XEP-0198 §5) rather than it ending.
   */
  dropConnection(condition: StreamErrorCondition, text?: string): void;
  /**
   * Closes the connection still attached, with `conflict`, and keeps the
   * session as if its connection had broken: it is being handed to another
   * cluster node (XEP-0198 resumption there), and what reaches it meanwhile
   * waits in stream management's queue until `handOver` or `close`.
   */
  suspend(): void;
  /**
   * Ends the session on this node without telling modules (no 'session/closed':
   * no unavailable presence, no offline requeue): it continues on another
   * cluster node (XEP-0198 resumption there). A connection still attached is
   * closed with `conflict`.
   */
  handOver(): void;

  get<T>(key: SessionKey<T>): T | undefined;
  set<T>(key: SessionKey<T>, value: T | undefined): void;
}
