import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { serialize, x, type Attrs, type XmlElement } from '../../util/xml.js';
import { StanzaError } from '../errors.js';
import { NS_LIMITS } from '../stream/stream-features.js';
import { keep, type OutboundStanza, type S2sAuthMethod, type S2sContext } from './context.js';
import { dialbackKind, NS_DIALBACK, NS_DIALBACK_FEATURE } from './dialback.js';
import { OutboundLiveness } from './outbound-liveness.js';
import type { S2sOutbound } from './outbound.js';
import { S2sStream, toServerNs } from './stream.js';
import { NS_SASL, NS_TLS } from '../rfc6120-namespaces.js';

const NS_PING = 'urn:xmpp:ping';

/**
 * One outbound socket (we are the initiating server): header, STARTTLS with
 * our certificate as client certificate, then SASL EXTERNAL when the peer
 * offers it, else dialback (XEP-0220 §2.1, key per XEP-0185).
 */
export class OutboundStream extends S2sStream {
  private theirId = '';
  /** The peer opened its stream: a failure from here on is one of negotiation, not of reaching it. */
  private peerOpened = false;
  private headerDeclaresDialback = false;
  private usable = false;
  private saslTried = false;
  private authenticatedBy: S2sAuthMethod | null = null;
  /** The peer's certificate is valid for its domain (logged; required with s2s.requireValidCertificates). */
  certValid = false;
  private dialbackOffered = false;
  /** Our `<auth/>` or `<db:result/>` is out and unanswered: only then does an answer count. */
  private saslPending = false;
  private dialbackPending = false;
  /** Other local domains riding on this stream, by local domain. */
  private readonly guests = new Map<string, S2sOutbound>();
  /** Null when pings are off. */
  private readonly liveness: OutboundLiveness | null;
  /** XEP-0478 `<max-bytes>` of the peer's latest features on this stream; 0 when it advertised none. */
  private peerMaxBytes = 0;

  constructor(
    private readonly ctx: S2sContext,
    private readonly conn: S2sOutbound,
    socket: Socket | TLSSocket,
    directTls: boolean,
  ) {
    super(socket, ctx.limits, ctx.log, ctx.config.idleTimeoutSeconds * 1000);
    this.liveness = ctx.pingAfterMs > 0 ? new OutboundLiveness(ctx.pingAfterMs, ctx.config.maxQueue, () => this.ping(), (unanswered) => this.peerDead(unanswered)) : null;
    if (directTls && !this.checkCertificate()) return;
    this.open();
  }

  private open(): void {
    this.writeHeader({ from: this.conn.local, to: this.conn.remote });
  }

  /** RFC 6125 identity and chain of the peer's certificate; false when it ended the stream. */
  private checkCertificate(): boolean {
    const check = this.ctx.trust.check(this.socket as TLSSocket, this.conn.remote);
    this.certValid = check.valid;
    this.ctx.log.debug(`s2s out ${this.conn.local} → ${this.conn.remote}: certificate ${check.reason}`);
    if (!check.valid && this.ctx.config.requireValidCertificates) {
      this.negotiationFailed(`certificate of ${this.conn.remote} not acceptable: ${check.reason}`, true);
      // Closed here too, at once: on a direct TLS connection the pair does not hold this stream yet, and could not close it.
      this.close();
      this.socket.destroy();
      return false;
    }
    return true;
  }

  /**
   * RFC 6120 §8.3.3.17: the peer is there but TLS, SASL or dialback failed:
   * remote-server-timeout, of type cancel when trying again cannot help (it
   * cannot be authenticated, or it breaks our security policy).
   */
  private negotiationFailed(text: string, permanent = false): void {
    this.conn.fail('remote-server-timeout', text, { errorType: permanent ? 'cancel' : 'wait' });
  }

  sendStanza(stanza: XmlElement, from: OutboundStanza['from']): void {
    const data = serialize(toServerNs(stanza));
    // UTF-8 takes at most 3 bytes per UTF-16 code unit, so most stanzas are known to fit without being counted.
    if (this.peerMaxBytes > 0 && data.length * 3 > this.peerMaxBytes) {
      const bytes = Buffer.byteLength(data);
      if (bytes > this.peerMaxBytes) return this.refuseTooLarge(stanza, from, bytes);
    }
    this.write(data);
    this.liveness?.written(keep(stanza, from));
  }

  /**
   * XEP-0478 §4: the peer would end the stream over it, and with it whatever
   * follows on the wire, so the stanza is not sent and its sender gets
   * policy-violation, without 'by' (the policy is the peer's, not ours).
   */
  private refuseTooLarge(stanza: XmlElement, from: OutboundStanza['from'], bytes: number): void {
    const text = `the stanza is ${bytes} bytes; ${this.conn.remote} accepts at most ${this.peerMaxBytes}`;
    this.ctx.log.debug(`s2s out ${this.conn.local} → ${this.conn.remote}: not sent, ${text}`);
    this.conn.bounce({ stanza, from }, new StanzaError('policy-violation', text));
  }

  /**
   * XEP-0199 §4.2. The answer may need the peer to open and authenticate a
   * stream to us first, which s2s.connectTimeoutSeconds bounds.
   */
  private ping(): Promise<boolean> {
    const { id, answered } = this.ctx.expectPingAnswer(this.ctx.config.connectTimeoutSeconds * 1000);
    this.writeElement(x('iq', { type: 'get', id, from: this.conn.local, to: this.conn.remote }, x('ping', { xmlns: NS_PING })));
    return answered;
  }

  private peerDead(unanswered: OutboundStanza[]): void {
    this.ctx.log.info(`s2s out ${this.conn.local} → ${this.conn.remote}: no answer to a ping within ${this.ctx.config.connectTimeoutSeconds}s, closing; ${unanswered.length} stanza(s) return to their senders`);
    this.conn.streamLost(unanswered, `${this.conn.remote} did not answer a ping`);
  }

  /**
   * RFC 6120 §4.9.1.1: the peer ends the stream over something it read and
   * handles nothing it reads after that, without saying which stanza it was.
   * So what was written since its last answered ping may be unread, and goes
   * back to the senders as remote-server-timeout of type wait, as when the
   * connection is cut: sent again on a new stream, the stanza it objected to
   * could take that stream down too, and those it had handled would arrive
   * twice. Type wait, since all but one of them would likely pass on the new
   * stream the next stanza opens. Before the stream is ready nothing is kept,
   * and this is a failed negotiation. Our side closes without a stream error
   * of its own (§4.9.1.1: the receiver of one closes the stream, §4.4).
   */
  private peerStreamError(el: XmlElement): void {
    const condition = el.elements()[0]?.name ?? 'undefined-condition';
    const detail = el.getChildText('text');
    const text = `${this.conn.remote} sent stream error ${condition}${detail ? `: ${detail}` : ''}`;
    const unread = this.liveness?.stop() ?? [];
    if (unread.length > 0) this.ctx.log.info(`s2s out ${this.conn.local} → ${this.conn.remote}: ${text}; ${unread.length} stanza(s) return to their senders`);
    this.conn.streamLost(unread, text, null);
  }

  get speaksDialback(): boolean {
    return this.usable && this.dialbackOffered;
  }

  /** XEP-0220 piggybacking: asks the peer to accept `guest.local` on this stream too. */
  carry(guest: S2sOutbound): boolean {
    if (!this.speaksDialback || guest.remote !== this.conn.remote || this.guests.has(guest.local)) return false;
    this.guests.set(guest.local, guest);
    this.writeElement(x('db:result', { from: guest.local, to: guest.remote }, this.ctx.dialbackKey(guest.remote, guest.local, this.theirId)));
    return true;
  }

  /** A guest pair is gone; the stream stays for its owner. */
  drop(guest: S2sOutbound): void {
    if (this.guests.get(guest.local) === guest) this.guests.delete(guest.local);
  }

  flushVerifies(): void {
    if (!this.usable) return;
    for (const pair of [this.conn, ...this.guests.values()]) {
      for (const v of pair.unsentVerifies()) {
        v.sent = true;
        this.writeElement(x('db:verify', { from: pair.local, to: pair.remote, id: v.streamId }, v.key));
      }
    }
  }

  /** The pair a dialback answer is for: ours, or a guest's (its `to` is our local domain). */
  private pairFor(el: XmlElement): S2sOutbound | undefined {
    const to = el.attrs.to;
    return to === undefined || to === this.conn.local ? this.conn : this.guests.get(to);
  }

  protected onHeader(attrs: Attrs): void {
    this.theirId = attrs.id ?? '';
    this.peerOpened = true;
    this.headerDeclaresDialback = attrs['xmlns:db'] === NS_DIALBACK;
    if (attrs.version === undefined || !/^1\.\d+$/.test(attrs.version)) {
      this.negotiationFailed(`${this.conn.remote} does not speak XMPP 1.0 (no STARTTLS)`, true);
    }
  }

  protected onElement(el: XmlElement): Promise<void> | void {
    // Only negotiation comes back on an outbound stream: once we closed ours, nothing the peer says matters.
    if (this.closed) return;
    const ns = el.attrs.xmlns;
    if (el.name === 'stream:features') return this.onFeatures(el);
    if (el.name === 'stream:error') return this.peerStreamError(el);
    if (ns === NS_TLS && el.name === 'proceed') return this.startTls();
    if (ns === NS_TLS && el.name === 'failure') return this.negotiationFailed(`${this.conn.remote} refused STARTTLS`);
    // Before TLS (and its certificate check) nothing but negotiating TLS counts: an answer to SASL or
    // dialback we never sent would otherwise mark the stream ready and send stanzas in the clear.
    if (!this.usable) return this.negotiationFailed(`${this.conn.remote} sent <${el.name}> before the stream was secured`, true);
    if (ns === NS_SASL && (el.name === 'success' || el.name === 'failure') && !this.saslPending) {
      return this.negotiationFailed(`${this.conn.remote} answered a SASL request that was not made`, true);
    }
    if (ns === NS_SASL) this.saslPending = false;
    if (dialbackKind(el) === 'result' && el.attrs.to === this.conn.local && !this.dialbackPending) {
      return this.negotiationFailed(`${this.conn.remote} answered a dialback request that was not made`, true);
    }
    if (ns === NS_SASL && el.name === 'success') {
      this.authenticatedBy = 'external';
      this.restart();
      this.open();
      return;
    }
    if (ns === NS_SASL && el.name === 'failure') {
      this.ctx.log.info(`s2s out ${this.conn.local} → ${this.conn.remote}: SASL EXTERNAL refused (${el.elements()[0]?.name ?? '?'}), trying dialback`);
      return this.dialback();
    }
    const db = dialbackKind(el);
    const pair = db === 'result' ? this.pairFor(el) : this.conn;
    if (pair === undefined) return; // an answer for a guest that is gone
    if (pair !== this.conn) {
      if (el.attrs.type === 'valid') return pair.streamReady('dialback');
      this.guests.delete(pair.local);
      return pair.piggybackRefused(el.attrs.type === 'invalid' ? 'invalid' : `error ${el.getChild('error')?.elements()[0]?.name ?? ''}`);
    }
    if (db === 'result') {
      this.dialbackPending = false;
      if (el.attrs.type === 'valid') {
        this.authenticatedBy = 'dialback';
        return this.conn.streamReady('dialback');
      }
      const why = el.attrs.type === 'invalid' ? 'invalid' : `error ${el.getChild('error')?.elements()[0]?.name ?? ''}`;
      return this.negotiationFailed(`${this.conn.remote} did not accept our dialback key (${why})`, true);
    }
    if (db === 'verify') {
      const t = el.attrs.type;
      const pair = this.pairFor(el) ?? this.conn;
      if (el.attrs.id !== undefined) pair.answerVerify(el.attrs.id, t === 'valid' ? 'valid' : t === 'invalid' ? 'invalid' : 'error');
      return;
    }
    // Outbound streams carry nothing back but negotiation (RFC 6120 §4.2); ignore the rest.
    this.ctx.log.debug(`s2s out ${this.conn.local} → ${this.conn.remote}: ignored <${el.name}>`);
  }

  private onFeatures(f: XmlElement): void {
    this.peerMaxBytes = advertisedMaxBytes(f);
    if (!this.secure) {
      if (f.getChild('starttls', NS_TLS) !== undefined) {
        this.writeElement(x('starttls', { xmlns: NS_TLS }));
        return;
      }
      return this.negotiationFailed(`${this.conn.remote} offers no STARTTLS; sori requires encrypted server streams`, true);
    }
    this.usable = true;
    this.flushVerifies();
    if (this.authenticatedBy !== null) {
      this.conn.streamReady(this.authenticatedBy);
      return;
    }
    const mechanisms = f.getChild('mechanisms', NS_SASL)?.getChildren('mechanism').map((m) => m.getText().trim()) ?? [];
    this.dialbackOffered = f.getChild('dialback', NS_DIALBACK_FEATURE) !== undefined || this.headerDeclaresDialback;
    if (mechanisms.includes('EXTERNAL') && !this.saslTried) {
      this.saslTried = true;
      // XEP-0178 §3: an empty authzid ("=") means the domain in the stream header.
      this.saslPending = true;
      this.writeElement(x('auth', { xmlns: NS_SASL, mechanism: 'EXTERNAL' }, '='));
      return;
    }
    this.dialback();
  }

  private dialback(): void {
    if (!this.dialbackOffered) return this.negotiationFailed(`no authentication method in common with ${this.conn.remote}`, true);
    const key = this.ctx.dialbackKey(this.conn.remote, this.conn.local, this.theirId);
    this.dialbackPending = true;
    this.writeElement(x('db:result', { from: this.conn.local, to: this.conn.remote }, key));
  }

  private async startTls(): Promise<void> {
    try {
      await this.upgradeClient(this.ctx.tlsContext, this.conn.remote);
    } catch (e) {
      return this.negotiationFailed(`TLS with ${this.conn.remote} failed: ${(e as Error).message}`);
    }
    if (!this.checkCertificate()) return;
    this.open();
  }

  protected onClosed(abrupt: boolean): void {
    const unconfirmed = this.liveness?.stop() ?? [];
    // A reset (the peer's process died with our stanzas unread) or a connection gone without a closing tag: what the peer has not acknowledged may be lost.
    if (abrupt && unconfirmed.length > 0) this.conn.streamLost(unconfirmed, `connection to ${this.conn.remote} lost`);
    for (const guest of [...this.guests.values()]) guest.streamClosed(`shared stream to ${this.conn.remote} closed`, true);
    this.guests.clear();
    this.conn.streamClosed(`stream to ${this.conn.remote} closed`, this.peerOpened);
  }
}

/**
 * XEP-0478: the limit holds for the stream the features were sent on, so each
 * new features element replaces it; a value that is not a positive integer is
 * taken for no limit rather than refusing everything. The peer's
 * `<idle-seconds>` is not acted on: it tells when the peer may check the
 * stream or close it, and asks nothing of us; a peer closing an idle stream
 * closes it gracefully (RFC 6120 §4.4, stanzas in flight are still handled)
 * and the next stanza opens a new one, while keepalives would hold open a
 * stream the peer has said it does not want kept idle.
 */
function advertisedMaxBytes(features: XmlElement): number {
  const text = features.getChild('limits', NS_LIMITS)?.getChildText('max-bytes')?.trim();
  if (text === undefined || !/^[1-9]\d{0,14}$/.test(text)) return 0;
  return Number(text);
}
