import type { XmlElement } from '../../../util/xml.js';
import { SessionKey } from '../../session.js';

export const NS_SM = 'urn:xmpp:sm:3';

/** XEP-0198 counters are unsigned 32-bit and wrap (§4 "h"). */
export function u32(n: number): number {
  return n >>> 0;
}

/** Parses an 'h' attribute: an unsigned 32-bit integer in decimal, or null. */
export function parseH(value: string | undefined): number | null {
  if (value === undefined || !/^[0-9]{1,10}$/.test(value)) return null;
  const n = Number(value);
  return n <= 0xffffffff ? n : null;
}

/** What `ack` found: the number of stanzas released, or how far beyond the send count the client claimed. */
export type AckResult = { ok: true; released: number } | { ok: false; sent: number };

/**
 * Stream-management state of one session: plain data (ids, counters, the
 * queue of stanzas the client has not acknowledged, with the time each was
 * queued), so that it can be serialised into a cluster session table later.
 * Timers and the session reference stay in the module.
 *
 * Counting:
 *   - inbound 'h' is derived from the session's `stanzasIn` counter, which the
 *     core increments for every stanza the client sends: h = stanzasIn - inBase;
 *   - outbound: every stanza written after `<enabled/>` is appended to the
 *     queue; the send count is `acked + queue.length`, so `queue[i]` carries
 *     sequence number `acked + i + 1`. An `<a h/>` drops `h - acked` entries.
 */
export class SmState {
  /** Last 'h' the client sent: outbound stanzas it has handled. */
  acked = 0;
  /** Sent, not yet acknowledged, oldest first. */
  readonly queue: XmlElement[] = [];
  /** When each queued stanza was sent (ms), for `<delay/>` stamps. */
  readonly queuedAt: number[] = [];
  /** Stanzas queued since the last `<r/>` went out. */
  sinceRequest = 0;
  /** An `<r/>` is scheduled for the end of the current burst. */
  requestScheduled = false;
  /** When the session lost its connection (ms), or 0 while connected. */
  hibernatedAt = 0;

  constructor(
    /** Resumption id (`previd`); empty when resumption was not enabled. */
    readonly id: string,
    readonly resume: boolean,
    /** Seconds a hibernated session is kept. */
    readonly maxSeconds: number,
    /** The session's `stanzasIn` when `<enabled/>` was sent. */
    readonly inBase: number,
  ) {}

  /** Inbound 'h' for a session whose `stanzasIn` is `stanzasIn`. */
  handled(stanzasIn: number): number {
    return u32(stanzasIn - this.inBase);
  }

  /** Outbound stanzas counted since `<enabled/>` (mod 2^32). */
  get sent(): number {
    return u32(this.acked + this.queue.length);
  }

  push(stanza: XmlElement, at: number): void {
    this.queue.push(stanza);
    this.queuedAt.push(at);
    this.sinceRequest++;
  }

  /** Applies the client's 'h'; refuses an 'h' beyond what was sent (or one going backwards). */
  ack(h: number): AckResult {
    const released = u32(h - this.acked);
    if (released > this.queue.length) return { ok: false, sent: this.sent };
    if (released > 0) {
      this.queue.splice(0, released);
      this.queuedAt.splice(0, released);
    }
    this.acked = h;
    return { ok: true, released };
  }
}

/** Per-session stream-management state; absent until `<enable/>`. */
export const SM = new SessionKey<SmState>('sm');
