import type { SecureContext } from 'node:tls';
import type { Config } from '../../config.js';
import type { Jid } from '../../util/jid.js';
import type { Logger } from '../../util/log.js';
import { x, type XmlElement } from '../../util/xml.js';
import type { Server } from '../server.js';
import type { ParserLimits } from '../stream/parser.js';
import type { S2sTrust } from './trust.js';

export type S2sAuthMethod = 'external' | 'dialback';
export type DialbackVerdict = 'valid' | 'invalid' | 'error';

/** A stanza for a remote domain and its sender, who gets an error if it cannot be delivered. */
export interface OutboundStanza {
  stanza: XmlElement;
  from: Jid;
}

/** Kept for later (queued, or written and not yet known to be read): a copy of the top level, as callers may reuse the element for the next recipient. */
export function keep(stanza: XmlElement, from: Jid): OutboundStanza {
  const copy = x(stanza.name, { ...stanza.attrs });
  copy.children = stanza.children;
  return { stanza: copy, from };
}

/** What the streams need from the s2s service; keeps them testable and free of import cycles. */
export interface S2sContext {
  readonly server: Server;
  readonly log: Logger;
  readonly config: Config['s2s'];
  /** Our certificate and key (tls.cert/tls.key), for both directions. */
  readonly tlsContext: SecureContext;
  readonly trust: S2sTrust;
  readonly limits: ParserLimits;
  /** `idle-seconds` (s2s.idleTimeoutSeconds) for the XEP-0478 `<limits/>` inbound streams offer; one map, so the element is built once. */
  readonly idleLimit: ReadonlyMap<string, number>;
  /** Milliseconds after writing stanzas before the peer is pinged to learn whether it read them; 0: never (see S2sService). */
  readonly pingAfterMs: number;
  /** Key for dialback as originating server (XEP-0185). */
  dialbackKey(receiving: string, originating: string, streamId: string): string;
  /** As receiving server: asks the authoritative server of `remote` whether `key` is right, over our outbound stream local → remote. */
  verifyDialback(local: string, remote: string, streamId: string, key: string): Promise<DialbackVerdict>;
  /**
   * XEP-0199 §4.2: a ping's answer travels on the peer's stream to us, not on
   * the one the ping went out on. An id for the ping, and whether an answer
   * (result or error) came within `timeoutMs`.
   */
  expectPingAnswer(timeoutMs: number): { id: string; answered: Promise<boolean> };
  /** A domain pair became authenticated on a stream. */
  authenticated(direction: 'inbound' | 'outbound', local: string, remote: string, method: S2sAuthMethod): void;
  /** An inbound stream refused a stanza or a stream ended with an error we sent (counted). */
  refused(condition: string, detail: string): void;
}
