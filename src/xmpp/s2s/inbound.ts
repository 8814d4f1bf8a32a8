import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { normaliseDomain, tryParseJid } from '../../util/jid.js';
import { x, type Attrs, type XmlElement } from '../../util/xml.js';
import { NS_STANZAS, StanzaError, StreamError, errorReply } from '../errors.js';
import type { S2sContext, S2sAuthMethod } from './context.js';
import { dialbackKeyMatches, dialbackKind, NS_DIALBACK_FEATURE } from './dialback.js';
import { S2sStream, newStreamId } from './stream.js';
import { NS_CLIENT, NS_SASL, NS_SERVER, NS_TLS } from '../rfc6120-namespaces.js';
import type { CertificateCheck } from './trust.js';
import { streamLimits } from '../stream/stream-features.js';

const STANZAS = new Set(['message', 'presence', 'iq']);

/**
 * Dialback requests of one stream being verified at once. Each makes us
 * connect to the claimed domain's server: without a bound, one connection
 * could have us open hundreds (to anyone it names). Past it a request gets a
 * dialback error and may be made again once others are answered.
 */
const MAX_PENDING_DIALBACKS = 10;

function domainOf(value: string | undefined): string | null {
  if (value === undefined) return null;
  try {
    return normaliseDomain(value);
  } catch {
    return null;
  }
}

/**
 * A stream another server opened to us (we are the receiving server, RFC 6120
 * §4): STARTTLS (required, asking for the peer's certificate), then SASL
 * EXTERNAL when that certificate is valid for the header's `from` (XEP-0178),
 * or dialback (XEP-0220) for any number of domain pairs on the same stream. We
 * also answer `<db:verify>` here as the authoritative server for our domains.
 * Stanzas are routed only for authenticated (remote, local) pairs.
 */
export class S2sInbound extends S2sStream {
  private streamId = '';
  private headerSent = false;
  private localDomain = '';
  private peerDomain: string | null = null;
  private saslDone = false;
  /** "remote local" pairs this stream may carry stanzas for. */
  private readonly pairs = new Set<string>();
  private readonly remotes = new Set<string>();
  private readonly certChecks = new Map<string, CertificateCheck>();
  private pendingDialbacks = 0;
  private readonly authTimer: NodeJS.Timeout;

  constructor(
    private readonly ctx: S2sContext,
    socket: Socket | TLSSocket,
    private readonly onGone: (s: S2sInbound) => void,
  ) {
    super(socket, ctx.limits, ctx.log, ctx.config.idleTimeoutSeconds * 1000);
    // The idle timer alone would let a peer that never authenticates (but sends a space now and then) hold the connection for good.
    this.authTimer = setTimeout(() => this.authTimedOut(), ctx.config.connectTimeoutSeconds * 1000);
    this.authTimer.unref();
  }

  private authTimedOut(): void {
    if (this.pairs.size > 0) return;
    this.ctx.refused('connection-timeout', `${this.remoteAddress}: no domain authenticated within ${this.ctx.config.connectTimeoutSeconds}s`);
    this.close('connection-timeout', 'no domain authenticated in time');
  }

  /** Domain pairs authenticated on this stream, as "remote local". */
  authenticatedPairs(): string[] {
    return [...this.pairs];
  }

  protected override ensureHeader(): void {
    if (this.headerSent) return;
    this.streamId = newStreamId();
    this.writeHeader({ from: this.localDomain || this.ctx.server.hosts[0], id: this.streamId });
    this.headerSent = true;
  }

  protected onHeader(attrs: Attrs): void {
    const to = domainOf(attrs.to);
    this.localDomain = to !== null && this.ctx.server.servesDomain(to) ? to : '';
    this.peerDomain = domainOf(attrs.from);
    this.streamId = newStreamId();
    this.writeHeader({ from: this.localDomain || this.ctx.server.hosts[0], to: this.peerDomain ?? undefined, id: this.streamId });
    this.headerSent = true;
    if (to === null) throw new StreamError('host-unknown', 'the stream header names no domain of ours in to');
    if (this.localDomain === '') throw new StreamError('host-unknown', `this server does not serve ${to}`);
    if (attrs.version === undefined || !/^1\.\d+$/.test(attrs.version)) throw new StreamError('unsupported-version', 'XMPP 1.0 is required');
    this.writeElement(this.features());
  }

  private certFor(domain: string): CertificateCheck {
    let c = this.certChecks.get(domain);
    if (c === undefined) {
      c = this.socket instanceof TLSSocket ? this.ctx.trust.check(this.socket, domain) : { valid: false, reason: 'no TLS' };
      this.certChecks.set(domain, c);
      this.ctx.log.debug(`s2s in ${this.remoteAddress}: certificate for ${domain}: ${c.reason}`);
    }
    return c;
  }

  private dialbackAllowed(domain: string | null): boolean {
    return !this.ctx.config.requireValidCertificates || (domain !== null && this.certFor(domain).valid);
  }

  private features(): XmlElement {
    const f = x('stream:features');
    if (!this.secure) {
      f.append(x('starttls', { xmlns: NS_TLS }, x('required')));
      return f;
    }
    if (!this.saslDone && this.peerDomain !== null && this.certFor(this.peerDomain).valid) {
      f.append(x('mechanisms', { xmlns: NS_SASL }, x('mechanism', null, 'EXTERNAL')));
    }
    if (this.dialbackAllowed(this.peerDomain)) f.append(x('dialback', { xmlns: NS_DIALBACK_FEATURE }, x('errors')));
    // XEP-0478, before authentication too: a peer that authenticates by dialback restarts no stream, so these are
    // the last features it sees before sending stanzas. The idle timeout closes the stream, as the XEP's idle-seconds says.
    f.children.push(streamLimits(this.ctx.limits.maxStanzaSize, this.ctx.idleLimit));
    return f;
  }

  protected onElement(el: XmlElement): Promise<void> | void {
    // After our closing tag only the stanzas the peer had on the way count (RFC 6120 §4.4): negotiation is over.
    if (this.closed && !STANZAS.has(el.name)) return;
    const ns = el.attrs.xmlns;
    if (el.name === 'stream:error') return this.peerFailed(el);
    if (el.name === 'starttls' && ns === NS_TLS) return this.startTls();
    if (!this.secure) throw new StreamError('policy-violation', 'STARTTLS is required first');
    if (el.name === 'auth' && ns === NS_SASL) return this.saslExternal(el);
    const db = dialbackKind(el);
    if (db === 'result') return this.dialbackResult(el);
    if (db === 'verify') return this.dialbackVerify(el);
    if (ns === NS_SERVER && STANZAS.has(el.name)) return this.stanza(el);
    throw new StreamError('unsupported-stanza-type', `<${el.name}> is not understood on a server stream`);
  }

  /** RFC 6120 §4.9.1.1: a stream error ends the stream; it is not answered with one. */
  private peerFailed(error: XmlElement): void {
    this.ctx.log.info(`s2s in ${this.remoteAddress}: the peer ended the stream with ${error.elements()[0]?.name ?? 'a stream error'}${error.getChildText('text') ? `: ${error.getChildText('text')}` : ''}`);
    this.close();
  }

  private async startTls(): Promise<void> {
    if (this.secure) {
      this.writeElement(x('failure', { xmlns: NS_TLS }));
      this.close();
      return;
    }
    this.writeElement(x('proceed', { xmlns: NS_TLS }));
    try {
      await this.upgradeServer(this.ctx.tlsContext);
    } catch (e) {
      this.ctx.log.debug(`s2s in ${this.remoteAddress}: TLS failed: ${(e as Error).message}`);
      this.socket.destroy();
    }
  }

  /** XEP-0178: the peer's certificate authenticates the header's `from`. */
  private saslExternal(el: XmlElement): void {
    const fail = (condition: string): void => {
      this.writeElement(x('failure', { xmlns: NS_SASL }, x(condition)));
    };
    if (this.saslDone) throw new StreamError('policy-violation', 'already authenticated with SASL');
    if (el.attrs.mechanism !== 'EXTERNAL') return fail('invalid-mechanism');
    const from = this.peerDomain;
    if (from === null || !this.certFor(from).valid) return fail('not-authorized');
    const text = el.getText().trim();
    const authzid = text === '' || text === '=' ? from : domainOf(Buffer.from(text, 'base64').toString('utf8'));
    if (authzid !== from) return fail('invalid-authzid');
    this.saslDone = true;
    this.authorize(from, this.localDomain, 'external');
    this.writeElement(x('success', { xmlns: NS_SASL }));
    this.restart();
  }

  private authorize(remote: string, local: string, method: S2sAuthMethod): void {
    this.pairs.add(`${remote} ${local}`);
    this.remotes.add(remote);
    this.ctx.authenticated('inbound', local, remote, method);
  }

  private dbReply(kind: 'result' | 'verify', attrs: Attrs, error?: StanzaError): void {
    const el = x(`db:${kind}`, attrs);
    if (error !== undefined) {
      el.attrs.type = 'error';
      el.append(x('error', { type: error.type }, x(error.condition, { xmlns: NS_STANZAS })));
    }
    this.writeElement(el);
  }

  /** XEP-0220 §2.1: the peer asks to send as `from` to our `to`; we check the key with `from`'s authoritative server. */
  private dialbackResult(el: XmlElement): void {
    if (el.attrs.type !== undefined) return; // Only initiating servers send requests here; answers travel on our outbound streams.
    const remote = domainOf(el.attrs.from);
    const local = domainOf(el.attrs.to);
    if (remote === null || local === null) throw new StreamError('improper-addressing', 'db:result needs from and to');
    const reply = { from: local, to: remote };
    if (!this.ctx.server.servesDomain(local)) return this.dbReply('result', reply, new StanzaError('item-not-found'));
    if (!this.dialbackAllowed(remote)) return this.dbReply('result', reply, new StanzaError('not-authorized', undefined, 'auth'));
    if (this.pairs.has(`${remote} ${local}`)) return this.dbReply('result', { ...reply, type: 'valid' });
    if (this.pendingDialbacks >= MAX_PENDING_DIALBACKS) {
      this.ctx.refused('dialback-limit', `${this.remoteAddress}: ${remote} → ${local}`);
      // XEP-0220 §2.4: a dialback error, not a stream error: the stream may carry other domains already.
      return this.dbReply('result', reply, new StanzaError('policy-violation', undefined, 'wait'));
    }
    this.pendingDialbacks++;
    // Not awaited: the stream keeps working (e.g. a db:verify the peer sends meanwhile) while the authoritative server answers.
    void this.ctx.verifyDialback(local, remote, this.streamId, el.getText().trim()).then((verdict) => {
      this.pendingDialbacks--;
      if (this.closed) return;
      if (verdict === 'valid') {
        this.authorize(remote, local, 'dialback');
        this.dbReply('result', { ...reply, type: 'valid' });
      } else if (verdict === 'invalid') {
        this.ctx.refused('dialback-invalid', `${remote} → ${local}`);
        this.dbReply('result', { ...reply, type: 'invalid' });
        // XEP-0220 §2.2.1: a stream that claimed a domain with a forged key is closed.
        this.close();
      } else this.dbReply('result', reply, new StanzaError('remote-server-not-found'));
    });
  }

  /** XEP-0220 §2.2: as the authoritative server we say whether a key we handed out is genuine. */
  private dialbackVerify(el: XmlElement): void {
    if (el.attrs.type !== undefined) return;
    const receiving = domainOf(el.attrs.from);
    const originating = domainOf(el.attrs.to);
    const id = el.attrs.id;
    if (receiving === null || originating === null || id === undefined) throw new StreamError('improper-addressing', 'db:verify needs from, to and id');
    const reply = { from: originating, to: receiving, id };
    if (!this.ctx.server.servesDomain(originating)) return this.dbReply('verify', reply, new StanzaError('item-not-found'));
    const ok = dialbackKeyMatches(this.ctx.dialbackKey(receiving, originating, id), el.getText());
    this.dbReply('verify', { ...reply, type: ok ? 'valid' : 'invalid' });
  }

  /** RFC 6120 §4.9.3 / §8.1.1.2: addresses are checked against what this stream authenticated. */
  private stanza(el: XmlElement): Promise<void> | void {
    // §4.9.3.12: nothing is authenticated yet; invalid-from is for a from that is not among what is.
    if (this.remotes.size === 0) return this.refuse('not-authorized', `<${el.name}> before any domain authenticated on this stream`);
    const fromAttr = el.attrs.from;
    const toAttr = el.attrs.to;
    if (fromAttr === undefined || toAttr === undefined) return this.refuse('improper-addressing', `<${el.name}> without ${fromAttr === undefined ? 'from' : 'to'}`);
    const from = tryParseJid(fromAttr);
    if (from === null || !this.remotes.has(from.domain)) return this.refuse('invalid-from', `${fromAttr} is not authenticated on this stream`);
    const to = tryParseJid(toAttr);
    if (to === null) {
      if (el.attrs.type !== 'error') this.writeElement(errorReply(el, new StanzaError('jid-malformed')));
      return;
    }
    if (!this.ctx.server.servesDomain(to.domain)) return this.refuse('host-unknown', `${to.domain} is not served here`);
    if (!this.pairs.has(`${from.domain} ${to.domain}`)) return this.refuse('invalid-from', `${from.domain} is not authenticated for ${to.domain} on this stream`);
    el.attrs.xmlns = NS_CLIENT;
    return this.ctx.server.router.route(el, from, null).catch((e: unknown) => this.routeFailed(el, e));
  }

  /**
   * A stanza this server failed to handle (a store outage) is answered with a
   * stanza error, as on a client stream. Closing the stream instead would drop
   * the stanzas queued behind it with no error to their senders.
   */
  private async routeFailed(el: XmlElement, e: unknown): Promise<void> {
    if (e instanceof StreamError) throw e;
    this.ctx.log.error(`s2s in ${this.remoteAddress}: handling failed: ${el.toString().slice(0, 200)}`, e);
    // RFC 6120 §8.3.1, §8.2.3: never an error in answer to an error, nor to an iq result.
    if (el.attrs.type === 'error' || (el.name === 'iq' && el.attrs.type === 'result')) return;
    try {
      await this.ctx.server.route(errorReply(el, new StanzaError('internal-server-error')));
    } catch (err) {
      this.ctx.log.error(`s2s in ${this.remoteAddress}: could not return an error to ${el.attrs.from}`, err);
    }
  }

  private refuse(condition: 'improper-addressing' | 'invalid-from' | 'host-unknown' | 'not-authorized', text: string): void {
    this.ctx.refused(condition, text);
    this.ctx.log.info(`s2s in ${this.remoteAddress}: ${condition}: ${text}`);
    throw new StreamError(condition, text);
  }

  protected override carriesStanzas(): boolean {
    return this.pairs.size > 0;
  }

  protected onClosed(): void {
    clearTimeout(this.authTimer);
    this.onGone(this);
  }
}
