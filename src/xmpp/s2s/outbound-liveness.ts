import type { OutboundStanza } from './context.js';

/**
 * Whether the peer still reads what an outbound stream writes. After the
 * negotiation a peer sends nothing back on that stream (RFC 6120 §4.2), and a
 * peer that died without closing the connection (a crashed host, a NAT that
 * forgot the mapping) looks the same: the kernel takes our writes and TCP
 * gives up only after many minutes. So the stanzas written are kept; some
 * time after a write the peer is pinged (XEP-0199 §4.2), and an answer
 * proves it read everything written before the ping. No answer in time: the
 * stanzas since the last answer are handed to `dead`, which returns them to
 * their senders (RFC 6120 §8.3.3.17) rather than letting them vanish.
 *
 * Bouncing rather than resending on a new connection: the peer may have
 * handled them and only its answers be lost (it cannot reach us), and a
 * resend would then deliver every one twice. On a busy stream the peer is
 * pinged as soon as `maxKept` stanzas wait for an answer, so what is kept
 * stays near that while the peer answers.
 */
export class OutboundLiveness {
  /** Written since the last answered ping, oldest first. */
  private unconfirmed: OutboundStanza[] = [];
  private timer: NodeJS.Timeout | null = null;
  private pinging = false;
  private stopped = false;

  constructor(
    private readonly afterMs: number,
    private readonly maxKept: number,
    /** Writes a ping on the stream; resolves whether it was answered in time. */
    private readonly ping: () => Promise<boolean>,
    private readonly dead: (unanswered: OutboundStanza[]) => void,
  ) {}

  written(stanza: OutboundStanza): void {
    if (this.stopped) return;
    this.unconfirmed.push(stanza);
    if (this.pinging) return;
    if (this.unconfirmed.length >= this.maxKept) {
      if (this.timer !== null) clearTimeout(this.timer);
      void this.probe();
    } else if (this.timer === null) this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(() => void this.probe(), this.afterMs);
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    this.timer = null;
    this.pinging = true;
    const covered = this.unconfirmed.length;
    const answered = await this.ping();
    this.pinging = false;
    if (this.stopped) return;
    if (!answered) return this.dead(this.stop());
    this.unconfirmed.splice(0, covered);
    if (this.unconfirmed.length > 0) this.schedule();
  }

  /** The stream is closing: no more pings; what was not confirmed is returned. */
  stop(): OutboundStanza[] {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const unconfirmed = this.unconfirmed;
    this.unconfirmed = [];
    return unconfirmed;
  }
}
