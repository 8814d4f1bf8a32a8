import type { SecureContext } from 'node:tls';
import type { Config } from '../../config.js';
import type { Logger } from '../../util/log.js';
import type { Server } from '../server.js';
import type { ParserLimits } from '../stream/parser.js';
import type { S2sTrust } from './trust.js';

export type S2sAuthMethod = 'external' | 'dialback';
export type DialbackVerdict = 'valid' | 'invalid' | 'error';

/** What the streams need from the s2s service; keeps them testable and free of import cycles. */
export interface S2sContext {
  readonly server: Server;
  readonly log: Logger;
  readonly config: Config['s2s'];
  /** Our certificate and key (tls.cert/tls.key), for both directions. */
  readonly tlsContext: SecureContext;
  readonly trust: S2sTrust;
  readonly limits: ParserLimits;
  /** Key for dialback as originating server (XEP-0185). */
  dialbackKey(receiving: string, originating: string, streamId: string): string;
  /** As receiving server: asks the authoritative server of `remote` whether `key` is right, over our outbound stream local → remote. */
  verifyDialback(local: string, remote: string, streamId: string, key: string): Promise<DialbackVerdict>;
  /** A domain pair became authenticated on a stream. */
  authenticated(direction: 'inbound' | 'outbound', local: string, remote: string, method: S2sAuthMethod): void;
  /** An inbound stream refused a stanza or a stream ended with an error we sent (counted). */
  refused(condition: string, detail: string): void;
}
