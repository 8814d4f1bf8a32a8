import type { Jid } from '../../util/jid.js';
import type { XmlElement } from '../../util/xml.js';
import type { StreamErrorCondition } from '../errors.js';
import type { Server } from '../server.js';
import { sessionKeyCount, type ClientSession, type SessionKey } from '../session.js';
import { randomHex } from '../../util/random-token.js';

/** The connection a session writes to; swapped when a stream-management session is resumed. */
export interface SessionConnection {
  readonly transportKind: 'tcp' | 'websocket' | 'bosh';
  readonly secure: boolean;
  readonly remoteAddress: string;
  writeElement(el: XmlElement): void;
  closeWithError(condition?: StreamErrorCondition, text?: string, content?: string): void;
}

/**
 * A bound client session. It outlives its connection when stream management
 * hibernates it, which is why the connection is a replaceable field and not
 * the session itself.
 */
export class C2sSession implements ClientSession {
  readonly id = randomHex(8);
  readonly host: string;
  priority: number | null = null;
  presence: XmlElement | null = null;
  interested = false;
  open = true;
  lastActivity = Date.now();
  stanzasIn = 0;
  transport: 'tcp' | 'websocket' | 'bosh';
  secure: boolean;
  remoteAddress: string;
  private connection: SessionConnection | null;
  /** The connection dropConnection is letting go of, while 'session/disconnected' decides the session's fate. */
  private dropping: SessionConnection | null = null;
  private heldStanzas: XmlElement[] | null = null;
  /** At the number of keys: grown by assignment past its end, an array makes room for ~20 more (~200 bytes per session). */
  private readonly slots: unknown[] = new Array<unknown>(sessionKeyCount());

  constructor(
    private readonly server: Server,
    readonly jid: Jid,
    connection: SessionConnection,
  ) {
    this.host = jid.domain;
    this.connection = connection;
    this.transport = connection.transportKind;
    this.secure = connection.secure;
    this.remoteAddress = connection.remoteAddress;
  }

  get connected(): boolean {
    return this.connection !== null;
  }

  /**
   * Keeps stanzas back, before the outgoing filters, until `releaseStanzas`:
   * a session bound inside a SASL2 `<success/>` is routable before the
   * features bound with it (stream management's counting) are on, and what
   * reaches it meanwhile is written after the `<success/>`, where the client
   * counts it. Passing the filters only then makes the server count it too.
   */
  holdStanzas(): void {
    this.heldStanzas ??= [];
  }

  releaseStanzas(): void {
    const held = this.heldStanzas;
    this.heldStanzas = null;
    for (const stanza of held ?? []) this.send(stanza);
  }

  send(stanza: XmlElement): void {
    if (!this.open) return;
    if (this.heldStanzas !== null) {
      this.heldStanzas.push(stanza);
      return;
    }
    let out: XmlElement | null = stanza;
    const filters = this.server.registrations.outgoingFilters;
    for (let i = 0; i < filters.length && out !== null; i++) out = filters[i]!(this, out);
    if (out === null) return;
    if (this.connection !== null) this.connection.writeElement(out);
    if (out.name === 'message' && this.server.hooks.has('message/delivered')) {
      void this.server.hooks.fire('message/delivered', { session: this, stanza: out });
    }
  }

  sendRaw(element: XmlElement): void {
    this.connection?.writeElement(element);
  }

  close(condition?: StreamErrorCondition, text?: string, content?: string): void {
    if (this.connection !== null) this.connection.closeWithError(condition, text, content);
    else void this.finish(condition ?? null, false);
  }

  dropConnection(condition: StreamErrorCondition, text?: string): void {
    const connection = this.connection;
    if (connection === null) return;
    // Its close must not end the session: 'session/disconnected' decides, as when a connection breaks.
    this.dropping = connection;
    void this.connectionLost(connection, text ?? condition).finally(() => {
      if (this.dropping === connection) this.dropping = null;
    });
    connection.closeWithError(condition, text);
  }

  get<T>(key: SessionKey<T>): T | undefined {
    return this.slots[key.id] as T | undefined;
  }

  set<T>(key: SessionKey<T>, value: T | undefined): void {
    this.slots[key.id] = value;
  }

  touch(): void {
    this.lastActivity = Date.now();
  }

  /** Called by the connection when it breaks without a stream close. */
  async connectionLost(connection: SessionConnection, reason: string): Promise<void> {
    if (!this.open || this.connection !== connection) return;
    let kept = false;
    try {
      kept = await this.server.hooks.fireAsync('session/disconnected', { session: this, reason, unclean: true });
    } catch (e) {
      // Nothing could keep the session (a store outage, say): it ends like any other.
      this.server.log.error(`session/disconnected handlers failed for ${this.jid.full}`, e);
    }
    // A resumption may have attached a new connection while the hooks ran.
    if (this.connection !== connection) return;
    if (kept) this.connection = null;
    else await this.finish(reason, true);
  }

  /**
   * Moves the session onto a new connection (stream-management resumption).
   * A connection still attached (the client came back before the server saw
   * the old one break) is closed with `conflict`; it no longer ends the session.
   */
  attach(connection: SessionConnection): void {
    const old = this.connection;
    this.connection = connection;
    this.transport = connection.transportKind;
    this.secure = connection.secure;
    this.remoteAddress = connection.remoteAddress;
    this.touch();
    if (old !== null && old !== connection) old.closeWithError('conflict', 'session resumed on another connection');
  }

  /** The connection ended its stream: the session ends with it, unless it has moved to another connection. */
  connectionClosed(connection: SessionConnection, reason: string | null): Promise<void> {
    if (this.connection !== connection || this.dropping === connection) return Promise.resolve();
    return this.finish(reason, false);
  }

  /** Detaches from a connection that is being reused elsewhere, without closing it. */
  detach(connection: SessionConnection): void {
    // A dropped connection stays until 'session/disconnected' has decided (dropConnection).
    if (this.connection === connection && this.dropping !== connection) this.connection = null;
  }

  suspend(): void {
    const old = this.connection;
    // Detached first: the connection's close then finds no session to end.
    this.connection = null;
    old?.closeWithError('conflict', 'session resumed on another node');
  }

  handOver(): void {
    if (!this.open) return;
    this.open = false;
    const old = this.connection;
    this.connection = null;
    this.server.sessions.remove(this);
    old?.closeWithError('conflict', 'session resumed on another node');
  }

  /** Ends the session for good: unregisters it and tells modules (presence unavailable, etc.). */
  async finish(reason: string | null, unclean: boolean): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.connection = null;
    this.server.sessions.remove(this);
    // Each module on its own: one whose store is down (presence reading the roster) must not keep the
    // others from letting go of the session (rooms, held messages). Connections end their session
    // unawaited, so a rejection here would be unhandled and end the process, every other session with it.
    await this.server.hooks.fireEach('session/closed', { session: this, reason, unclean }, (e) => this.server.log.error(`a session/closed handler failed for ${this.jid.full}`, e));
  }
}
