import { serialize, x, type XmlElement } from '../../util/xml.js';
import { parseJid, tryParseJid, type Jid } from '../../util/jid.js';
import { StreamError } from '../errors.js';
import { createMechanism, offeredMechanisms, SaslFailure, type SaslContext, type SaslMechanism } from '../sasl/index.js';
import { hashedTokenBinding, hashedTokenMechanisms, HashedTokenServer } from '../sasl/hashed-token.js';
import { NS_BIND2 } from './bind2.js';
import type { Server } from '../server.js';
import type { Transport } from '../transport/transport.js';
import { NS_SASL } from '../rfc6120-namespaces.js';

export const NS_SASL2 = 'urn:xmpp:sasl:2';
export const NS_FAST = 'urn:xmpp:fast:0';
const NS_SASL_CB = 'urn:xmpp:sasl-cb:0';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The installation a SASL2 `<authenticate/>` names in `<user-agent id='…'/>`,
 * or undefined. XEP-0388 §2.3: the id is the installation's stable identifier,
 * a UUID (v4); it keys the installation's FAST tokens (XEP-0484) and the
 * resource Bind2 derives (XEP-0386). An id that is not a UUID counts as none:
 * the client still logs in, with a random resource and no token, and no
 * string of its choosing and of any length becomes a key in the store.
 */
export function userAgentId(request: XmlElement): string | undefined {
  const id = request.getChild('user-agent')?.attrs.id;
  return id !== undefined && UUID.test(id) ? id : undefined;
}
/**
 * RFC 6120 §6.4.5: allow a few retries on one connection (2 to 5), then close it.
 * Only wrong credentials count: clients such as slixmpp walk down the offered
 * mechanisms after a failure, and each mechanism they cannot use is not a guess.
 */
const MAX_FAILURES_PER_CONNECTION = 5;

interface SaslHost {
  readonly host: string;
  readonly channel: Transport;
  tlsRequired(): boolean;
  authSucceeded(username: string): void;
  /** XEP-0388: authenticated without a stream restart; the host answers `<success/>` with what `request` asked for inline. */
  sasl2Succeeded(username: string, additionalData: Buffer | undefined, request: XmlElement): Promise<void>;
  closeWithError(condition: 'policy-violation', text: string): void;
}

/**
 * The SASL exchange of one c2s stream: RFC 6120 §6, or XEP-0388 (SASL2)
 * when the client authenticates in that namespace. The mechanisms, limits
 * and throttling are the same; SASL2 differs in its elements and in what
 * follows success (no restart; binding and resumption inline).
 */
export class SaslNegotiation {
  private mechanism: SaslMechanism | null = null;
  private failures = 0;
  /** The mechanism of the exchange in progress, for the login count. */
  private mechanismName = '';
  /** The SASL2 `<authenticate/>` being answered, for its inline requests. */
  private sasl2Request: XmlElement | null = null;
  /** The FAST token this login was made with, for its rotation. */
  private tokenUsed: { mechanism: string; expiresAt: number } | null = null;

  constructor(
    private readonly server: Server,
    private readonly stream: SaslHost,
  ) {}

  features(): XmlElement[] {
    const t = this.stream.channel;
    const cbTypes = t.secure ? t.channelBindingTypes() : [];
    const mechs = x('mechanisms', { xmlns: NS_SASL }, ...offeredMechanisms(t.secure, cbTypes, this.server.config.auth.passwords).map((m) => x('mechanism', null, m)));
    const out = [mechs];
    if (this.server.config.c2s.sasl2) {
      out.push(x('authentication', { xmlns: NS_SASL2 }, ...mechs.children, x('inline', null, ...this.sasl2Inline())));
    }
    // XEP-0440: tell clients which channel-binding types we can verify.
    if (cbTypes.length > 0) out.push(x('sasl-channel-binding', { xmlns: NS_SASL_CB }, ...cbTypes.map((type) => x('channel-binding', { type }))));
    return out;
  }

  /** XEP-0484 FAST: with SASL2, on an encrypted stream (-NONE carries no channel binding), unless turned off. */
  fastOffered(): boolean {
    return this.server.config.c2s.sasl2 && this.server.config.c2s.fastTokenDays > 0 && this.stream.channel.secure;
  }

  /** The token mechanisms of this stream, offered inside SASL2's `<fast/>` only: one per channel-binding type, and -NONE. */
  private fastMechanisms(): string[] {
    return this.fastOffered() ? hashedTokenMechanisms(this.stream.channel.channelBindingTypes()) : [];
  }

  /** What can be done inside SASL2's `<authenticate/>`: Bind2 with the features modules offer with it, what modules add (SM resumption), FAST. */
  private sasl2Inline(): XmlElement[] {
    const reg = this.server.registrations;
    const bindFeatures = [...reg.bind2Features.keys()].map((ns) => x('feature', { var: ns }));
    const inline = [x('bind', { xmlns: NS_BIND2 }, x('inline', null, ...bindFeatures)), ...reg.sasl2Inline.map((f) => f.clone())];
    if (this.fastOffered()) inline.push(x('fast', { xmlns: NS_FAST }, ...this.fastMechanisms().map((m) => x('mechanism', null, m))));
    return inline;
  }

  /**
   * XEP-0484 after a SASL2 success: `<fast invalidate='true'/>` ends the
   * installation's token; `<request-token/>` gets a new one, and so does a
   * login with a token in the second half of its life (§3.5: rotation), so
   * that a client that never asks is not left with an expired one.
   */
  async fastToken(request: XmlElement, username: string): Promise<XmlElement | null> {
    const installation = userAgentId(request);
    const tokenUsed = this.tokenUsed;
    this.tokenUsed = null;
    if (installation === undefined || !this.fastOffered()) return null;
    const jid = parseJid(`${username}@${this.stream.host}`);
    const fast = request.getChild('fast', NS_FAST);
    const invalidate = fast?.attrs.invalidate === 'true' || fast?.attrs.invalidate === '1';
    if (invalidate) await this.server.accounts.forgetFastToken(jid, installation);
    const lifetimeMs = this.server.config.c2s.fastTokenDays * 86_400_000;
    const dueForRotation = !invalidate && tokenUsed !== null && tokenUsed.expiresAt - Date.now() < lifetimeMs / 2;
    const mechanism = request.getChild('request-token', NS_FAST)?.attrs.mechanism ?? (dueForRotation ? tokenUsed.mechanism : undefined);
    if (mechanism === undefined || !this.fastMechanisms().includes(mechanism)) return null;
    try {
      const { token, expiresAt } = await this.server.accounts.issueFastToken(jid, installation, mechanism, lifetimeMs, this.server.config.c2s.fastTokensPerAccount);
      return x('token', { xmlns: NS_FAST, token, expiry: new Date(expiresAt).toISOString() });
    } catch (e) {
      // A new token is an extra: without one the login stands, and the client goes on authenticating as it did.
      this.server.log.warn(`FAST token for ${jid.bare} not stored`, e);
      return null;
    }
  }

  /** A FAST token is bound to the installation (user-agent id) it was issued to, and a bound mechanism's proof to this stream's channel. */
  private tokenMechanism(name: string, request: XmlElement): SaslMechanism {
    const installation = userAgentId(request);
    if (installation === undefined) throw new SaslFailure('malformed-request', 'FAST needs the user-agent id (a UUID) the token was issued to');
    const bindingType = hashedTokenBinding(name);
    const binding = bindingType === null || bindingType === undefined ? Buffer.alloc(0) : this.stream.channel.channelBinding(bindingType);
    if (binding === null) throw new SaslFailure('invalid-mechanism', `no ${bindingType} channel binding on this stream`);
    return new HashedTokenServer(async (username, proves) => {
      const jid = this.accountOf(username);
      const expiresAt = jid === null ? null : await this.server.accounts.checkFastToken(jid, installation, name, proves);
      if (expiresAt === null) return false;
      this.tokenUsed = { mechanism: name, expiresAt };
      return true;
    }, binding);
  }

  /**
   * The account a SASL username names: the local part as JIDs compare it
   * (RFC 7622's case-mapped username), so `Juliet` logs in as juliet, as
   * Prosody and ejabberd let it; null when it cannot be a local part.
   */
  private accountOf(username: string): Jid | null {
    if (username.includes('@') || username.includes('/')) return null;
    const jid = tryParseJid(`${username}@${this.stream.host}`);
    return jid === null || jid.local === '' ? null : jid;
  }

  /** One throttle entry per account, whatever case its guesses are typed in. */
  private throttleKey(username: string): string {
    return `user:${this.accountOf(username)?.local ?? username}@${this.stream.host}`;
  }

  private context(): SaslContext {
    const t = this.stream.channel;
    const host = this.stream.host;
    return {
      credentials: async (username) => {
        const jid = this.accountOf(username);
        if (jid === null || !this.server.config.auth.passwords) return null;
        return this.server.accounts.credentials(jid);
      },
      // Per host: the same name on two hosts must not get the same salt, which no two real accounts have.
      decoyKey: () => this.server.secretKey(`scram-decoy ${host}`),
      accountName: (username) => this.accountOf(username)?.local ?? username,
      tokenAllows: async (username, token) => {
        const tokens = this.server.tokens;
        const jid = this.accountOf(username);
        if (tokens === null || jid === null || !(await tokens.allows(token, jid))) return false;
        // Created on its first token login, so offline storage and archives work for it (a cached read after that).
        if (!(await this.server.accounts.exists(jid))) await this.server.createAccount(jid, null);
        return true;
      },
      channelBindingTypes: () => (t.secure ? t.channelBindingTypes() : []),
      channelBinding: (type) => t.channelBinding(type),
      authzidMatches: (authzid, username) => {
        const z = tryParseJid(authzid);
        return z !== null && z.bare === this.accountOf(username)?.bare;
      },
    };
  }

  async handle(el: XmlElement): Promise<void> {
    const throttleKeyIp = `ip:${this.stream.channel.remoteAddress}`;
    const v2 = el.attrs.xmlns === NS_SASL2;
    try {
      if (el.name === (v2 ? 'authenticate' : 'auth')) {
        if (v2 && !this.server.config.c2s.sasl2) throw new StreamError('unsupported-stanza-type', 'SASL2 is not offered');
        if (this.stream.tlsRequired()) throw new SaslFailure('encryption-required', 'use STARTTLS first');
        const name = el.attrs.mechanism ?? '';
        const token = v2 && hashedTokenBinding(name) !== undefined;
        const offered = offeredMechanisms(this.stream.channel.secure, this.stream.channel.secure ? this.stream.channel.channelBindingTypes() : [], this.server.config.auth.passwords);
        if (!(token ? this.fastMechanisms() : (offered as string[])).includes(name)) throw new SaslFailure('invalid-mechanism', `${name} is not offered`);
        if (await this.server.throttle.isBlocked(throttleKeyIp)) throw new SaslFailure('temporary-auth-failure', 'too many failed attempts; try again later');
        this.tokenUsed = null;
        this.mechanism = token ? this.tokenMechanism(name, el) : createMechanism(name, this.context());
        this.mechanismName = name;
        this.sasl2Request = v2 ? el : null;
        const initial = v2 ? el.getChildText('initial-response') : el.getText();
        // RFC 6120 §6.4.2: no initial response (an empty <auth/>; "=" is an empty one) gets an empty challenge, and the
        // client's first <response/> carries what the initial response would have.
        if (initial === undefined || initial === '') return this.write(x('challenge', { xmlns: v2 ? NS_SASL2 : NS_SASL }));
        return await this.step(initial, v2);
      }
      if (el.name === 'response') {
        if (this.mechanism === null || v2 !== (this.sasl2Request !== null)) throw new SaslFailure('malformed-request', 'no exchange in progress');
        return await this.step(el.getText(), v2);
      }
      if (el.name === 'abort') {
        this.mechanism = null;
        throw new SaslFailure('aborted');
      }
      throw new StreamError('unsupported-stanza-type', `unknown SASL element ${el.name}`);
    } catch (caught) {
      if (caught instanceof StreamError) throw caught;
      let e: SaslFailure;
      if (caught instanceof SaslFailure) e = caught;
      else {
        // The account store is down or failing: the client may retry later (RFC 6120 §6.5.12).
        this.server.log.warn('authentication could not read credentials', caught);
        e = new SaslFailure('temporary-auth-failure', 'the account store is unavailable; try again later');
      }
      this.mechanism = null;
      this.sasl2Request = null;
      const userKey = e.username !== undefined && e.condition === 'not-authorized' ? this.throttleKey(e.username) : null;
      // A locked account answers a wrong password as it answers the right one (temporary-auth-failure, on
      // success below): were they told apart, guesses from many addresses would learn which one is right.
      const locked = userKey !== null && (await this.server.throttle.isBlocked(userKey));
      // Only a refused password counts: a malformed exchange guesses nothing, and some clients make one on every
      // login (slixmpp asks for tls-unique channel binding, which TLS 1.3 lacks, then falls back), so counting
      // them locked such clients' whole address out after a few logins.
      if (e.condition === 'not-authorized') await this.server.throttle.fail(...(userKey === null ? [throttleKeyIp] : [throttleKeyIp, userKey]));
      if (locked) e = new SaslFailure('temporary-auth-failure', 'too many failed attempts for this account; try again later', e.username);
      this.server.counters.authFailures.inc(e.condition);
      // XEP-0388 §2.6.4: the RFC 6120 condition, in its namespace, inside SASL2's failure.
      const condition = v2 ? x(e.condition, { xmlns: NS_SASL }) : x(e.condition);
      this.write(x('failure', { xmlns: v2 ? NS_SASL2 : NS_SASL }, condition, e.text ? x('text', { 'xml:lang': v2 ? undefined : 'en' }, e.text) : null));
      if (e.condition === 'not-authorized' && ++this.failures >= MAX_FAILURES_PER_CONNECTION) this.stream.closeWithError('policy-violation', 'too many failed authentication attempts');
    }
  }

  private async step(text: string, v2: boolean): Promise<void> {
    let input: Buffer;
    if (text === '=' || text === '') input = Buffer.alloc(0);
    else {
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text.trim())) throw new SaslFailure('incorrect-encoding', 'not base64');
      input = Buffer.from(text.trim(), 'base64');
    }
    const result = await this.mechanism!.step(input);
    if (result.type === 'challenge') {
      this.write(x('challenge', { xmlns: v2 ? NS_SASL2 : NS_SASL }, result.data.toString('base64')));
      return;
    }
    const userKey = this.throttleKey(result.username);
    const jid = this.accountOf(result.username);
    if (!(await this.server.throttle.admit(userKey))) throw new SaslFailure('temporary-auth-failure', 'too many failed attempts for this account; try again later');
    if (jid === null) throw new SaslFailure('not-authorized');
    this.server.counters.logins.inc(this.mechanismName);
    this.mechanism = null;
    const username = jid.local;
    if (v2) {
      const request = this.sasl2Request!;
      this.sasl2Request = null;
      return this.stream.sasl2Succeeded(username, result.data ?? undefined, request);
    }
    this.write(x('success', { xmlns: NS_SASL }, result.data ? result.data.toString('base64') : null));
    this.stream.authSucceeded(username);
  }

  private write(el: XmlElement): void {
    this.stream.channel.write(serialize(el));
  }
}
