import type { ServerResponse } from 'node:http';
import { randomHex } from '../../util/random-token.js';
import type { Attrs, XmlElement } from '../../util/xml.js';
import { bodyXml, streamInput, writeBody } from './bosh-body.js';
import { InactivityClock, refusedPause } from './bosh-inactivity.js';
import { RequestPace } from './bosh-pace.js';
import { announce, grant, REQUESTS, type BoshLimits } from './bosh-terms.js';
import type { Transport } from './transport.js';

export { NS_HTTPBIND, NS_XBOSH } from './bosh-body.js';
export type { BoshLimits } from './bosh-terms.js';

/** Responses kept for retransmission when a client resends a request it got no answer to (§14.3). */
const REMEMBERED = REQUESTS;

/** Reports a session ended because its client stopped reading; called once per session. */
export type BoshOverflowLog = (session: BoshSession, queuedBytes: number) => void;

interface HeldRequest {
  rid: number;
  res: ServerResponse;
  timer: NodeJS.Timeout;
}

/**
 * One BOSH session (XEP-0124) carrying one XMPP stream (XEP-0206), seen by
 * the c2s stream as its transport: element payloads go in, serialised
 * elements come out. Requests are taken in `rid` order whatever order they
 * arrive in; the newest is held open until there is something to send, the
 * `wait` runs out, or a newer request needs the slot. A session with no
 * request open for `inactivity` seconds, or for the pause its client asked
 * for, has lost its client (bosh-inactivity.ts); one whose client sends
 * requests faster than §11 and §12 allow ends (bosh-pace.ts).
 */
export class BoshSession implements Transport {
  readonly kind = 'bosh' as const;
  readonly framed = true;
  readonly canStartTls = false;
  readonly sid = randomHex(16);
  private onData: (chunk: string) => void = () => {};
  private onClose: (hadError: boolean) => void = () => {};
  private nextRid: number;
  /** Requests that arrived ahead of a missing rid. */
  private readonly early = new Map<number, XmlElement>();
  private readonly responsesOf = new Map<number, ServerResponse>();
  private readonly held: HeldRequest[] = [];
  private output: string[] = [];
  /** UTF-8 bytes in `output`. */
  private outputBytes = 0;
  /** What §11 and §12 judge of how often the client sends requests. */
  private readonly pace: RequestPace;
  private readonly remembered = new Map<number, string>();
  /** Held requests whose connection closed before they were answered, which the client may resend (§14.3). */
  private readonly dropped = new Set<number>();
  /** Attributes of the session creation response, until it is sent. */
  private creation: Attrs | null;
  private readonly wait: number;
  /** Runs while no request is open; when it runs out, the client is taken for gone. */
  private readonly inactivity: InactivityClock;
  private readonly maxPause: number;
  /** The c2s stream reads slowly (Transport.pause): requests are not taken. Not a BOSH pause (§10). */
  private paused = false;
  /** The stream has ended (c2s closed it, or the client terminated): the next response terminates the session. */
  private ending = false;
  private closed = false;
  private flushScheduled = false;
  /** Requests held open at once (SessionTerms.hold). */
  private readonly holdCount: number;
  private readonly maxQueuedBytes: number;
  /** The output passed maxQueuedBytes: the session is ending, nothing more is kept. */
  private overflowed = false;

  constructor(
    creationRequest: XmlElement,
    readonly remoteAddress: string,
    readonly secure: boolean,
    limits: BoshLimits,
    private readonly onGone: (session: BoshSession) => void,
    private readonly onOverflow: BoshOverflowLog = () => {},
  ) {
    const asked = creationRequest.attrs;
    this.nextRid = Number(asked.rid);
    const terms = grant(asked, limits);
    this.wait = terms.wait;
    this.holdCount = terms.hold;
    this.inactivity = new InactivityClock(terms.inactivity, () => this.finish());
    this.maxPause = terms.maxPause;
    this.maxQueuedBytes = limits.maxQueuedBytes;
    this.pace = new RequestPace(REQUESTS, terms.polls);
    this.creation = announce(terms, this.sid, asked, secure);
  }

  // ---- Transport ----------------------------------------------------------

  start(onData: (chunk: string) => void, onClose: (hadError: boolean) => void): void {
    this.onData = onData;
    this.onClose = onClose;
  }

  openStream(attrs: Attrs): void {
    if (this.creation !== null) {
      this.creation.from = attrs.from;
      this.creation.authid = attrs.id;
    }
  }

  closeStream(): void {
    this.ending = true;
    this.scheduleFlush();
  }

  write(data: string): void {
    if (this.closed || this.overflowed) return;
    this.output.push(data);
    this.outputBytes += Buffer.byteLength(data);
    // With a request held, the output leaves at the flush; without one it waits for a client that may
    // never come back, and until the inactivity timeout it would grow with all that is sent to the account
    // (a busy room). Past the cap the client is taken for gone, as a dead TCP connection would be: the c2s
    // stream sees its transport close, and stream management keeps or requeues what was not acknowledged.
    if (this.held.length === 0 && this.outputBytes > this.maxQueuedBytes) {
      this.overflowed = true;
      this.onOverflow(this, this.outputBytes);
      // Not inside the write: ending the stream runs session handlers, and this may be in the middle of a broadcast.
      queueMicrotask(() => this.finish());
      return;
    }
    this.scheduleFlush();
  }

  /**
   * A terminal binding error (§19) for a request of this session that could not be taken (not a
   * `<body/>`, too large): the client takes the session for ended, so it ends now rather than at the
   * inactivity timeout; requests still open get the same condition.
   */
  fail(condition: string): void {
    this.finish(condition);
  }

  startTls(): Promise<void> {
    return Promise.reject(new Error('STARTTLS is not available over BOSH'));
  }

  channelBindingTypes(): string[] {
    return [];
  }

  channelBinding(): Buffer | null {
    return null;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.takeInOrder();
  }

  end(): void {
    this.ending = true;
    this.scheduleFlush();
  }

  destroy(): void {
    this.ending = true;
    this.flush();
    this.finish();
  }

  // ---- requests -------------------------------------------------------------

  /** The session creation request (§7.1): opens the stream and is held for the features. */
  create(request: XmlElement, res: ServerResponse): void {
    this.responsesOf.set(this.nextRid, res);
    this.early.set(this.nextRid, request);
    this.pace.arrived(this.nextRid);
    this.takeInOrder();
  }

  /** A request of this session (§7.3, §14). */
  request(body: XmlElement, res: ServerResponse): void {
    const rid = Number(body.attrs.rid);
    if (this.closed) return writeBody(res, bodyXml({ type: 'terminate', condition: 'item-not-found' }));
    this.inactivity.requestCame();
    if (rid < this.nextRid) {
      // §14.3: a resent request gets the response it was given, if still known; if not, item-not-found is a
      // terminal error. The client takes its session for ended, so it ends here too: kept alive, it would go
      // on taking the client's messages until the inactivity timeout, with nobody reading them.
      const kept = this.remembered.get(rid);
      if (kept !== undefined) return writeBody(res, kept);
      if (this.holdAgain(rid, res)) return;
      writeBody(res, bodyXml({ type: 'terminate', condition: 'item-not-found' }));
      return this.finish();
    }
    if (rid >= this.nextRid + REQUESTS) {
      // §14.2: outside the window the client may have open.
      writeBody(res, bodyXml({ type: 'terminate', condition: 'item-not-found' }));
      return this.finish();
    }
    const refused = refusedPause(body.attrs.pause, this.maxPause);
    if (refused !== null) return this.finish(refused, res);
    // §14.3: a copy of a request still waiting for a lost one before it, resent because its connection broke
    // while it waited: the copy's connection is the one that can carry the answer. Otherwise it is new, and
    // §11 counts it with the others still open (held, or not yet taken) whose connections the client kept.
    const isNew = !this.early.has(rid);
    this.responsesOf.get(rid)?.destroy();
    this.responsesOf.set(rid, res);
    this.early.set(rid, body);
    if (isNew) {
      this.pace.arrived(rid);
      const last = Math.max(...this.responsesOf.keys());
      if (this.pace.tooMany(this.held.length + this.responsesOf.size, this.early.get(last)!)) return this.finish('policy-violation');
    }
    if (rid > this.nextRid) this.waitFor(rid, res);
    this.takeInOrder();
  }

  /**
   * A request waiting for a lost one before it is open all the same: the inactivity period (§10) counts
   * only while every request received has been answered, so it does not run meanwhile. If its connection
   * breaks while it waits, its payload is still taken in its turn and a resent copy is held as any other.
   */
  private waitFor(rid: number, res: ServerResponse): void {
    this.inactivity.stop();
    res.once('close', () => {
      if (this.responsesOf.get(rid) !== res || res.writableEnded) return;
      this.responsesOf.delete(rid);
      this.armInactivity();
    });
  }

  /**
   * §14.3: a request whose connection broke before it was answered is resent as it was (Strophe.js resends one
   * open longer than 1.1 × wait, or one a proxy cut), and held again in its place: it has no response to lose.
   * The copy may come before the broken connection's close is seen; that one is then let go.
   */
  private holdAgain(rid: number, res: ServerResponse): boolean {
    const i = this.held.findIndex((h) => h.rid === rid);
    if (i !== -1) {
      const [old] = this.held.splice(i, 1);
      clearTimeout(old!.timer);
      old!.res.destroy();
    } else if (!this.dropped.delete(rid)) return false;
    this.hold(rid, res);
    return true;
  }

  /** Hands payloads over in rid order, holding each request's response. */
  private takeInOrder(): void {
    while (!this.paused && !this.closed && this.early.has(this.nextRid)) {
      const rid = this.nextRid++;
      const body = this.early.get(rid)!;
      this.early.delete(rid);
      const res = this.responsesOf.get(rid);
      this.responsesOf.delete(rid);
      if (this.pace.taken(rid, body, this.held.map((h) => h.rid))) return this.finish('policy-violation', res);
      if (body.attrs.pause !== undefined && body.attrs.sid !== undefined) this.pauseSession(rid, res, Number(body.attrs.pause));
      else if (res !== undefined) this.hold(rid, res);
      // Its connection broke while it waited: a resent copy is held again (§14.3).
      else this.dropped.add(rid);
      for (const chunk of streamInput(body, this.creation !== null)) this.onData(chunk);
    }
  }

  /**
   * §10: the client will send nothing for up to `seconds` (a page being reloaded). Every request open is
   * answered at once, the pause itself without payloads, as the section requires; the older ones carry none
   * either, since a client that pauses is about to stop reading: what waits for it stays queued for its
   * first request after the pause. Until that request, the session lasts the pause rather than the period.
   */
  private pauseSession(rid: number, res: ServerResponse | undefined, seconds: number): void {
    this.inactivity.pause(seconds);
    for (const h of this.held.splice(0)) {
      clearTimeout(h.timer);
      if (!this.answer(h.rid, h.res, '')) return;
    }
    this.answer(rid, res, '');
  }

  private hold(rid: number, res: ServerResponse): void {
    this.inactivity.stop();
    const timer = setTimeout(() => this.answerOldest(), this.wait * 1000);
    timer.unref();
    // Oldest rid first, a resent request among newer ones too: the client reads answers in rid order.
    const at = this.held.findIndex((h) => h.rid > rid);
    this.held.splice(at === -1 ? this.held.length : at, 0, { rid, res, timer });
    res.once('close', () => {
      // The client gave up on it (its own timeout, a closed tab): it can carry nothing any more.
      const i = this.held.findIndex((h) => h.res === res);
      if (i === -1 || res.writableEnded) return;
      clearTimeout(this.held[i]!.timer);
      this.held.splice(i, 1);
      this.dropped.add(rid);
      for (const r of this.dropped) if (r < this.nextRid - REMEMBERED) this.dropped.delete(r);
      this.armInactivity();
    });
    // §7.3: a new request frees the older one, with whatever is waiting or empty. A polling client's request
    // (hold=0) stays until the flush, so that it carries what its own payloads were answered with at once:
    // the creation response its stream id and features (XEP-0206 §3), which it would otherwise lack for good.
    while (this.held.length > Math.max(this.holdCount, 1)) this.answerOldest();
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Stanzas written in the same tick leave in one response.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.held.length === 0) return;
    if (this.output.length > 0 || this.ending || this.held.length > this.holdCount) this.answerOldest();
  }

  /** Answers the oldest held request with everything waiting (or empty). */
  private answerOldest(): void {
    const h = this.held.shift();
    if (h === undefined) return;
    clearTimeout(h.timer);
    const payload = this.output.join('');
    this.output = [];
    this.outputBytes = 0;
    this.answer(h.rid, h.res, payload);
  }

  /**
   * Answers request `rid` (remembered for a resend, and written if its connection is still there), ending
   * the session if the stream has ended; false if it did.
   */
  private answer(rid: number, res: ServerResponse | undefined, payload: string): boolean {
    this.pace.answered(rid, payload === '');
    const attrs: Attrs = this.creation ?? {};
    this.creation = null;
    if (this.ending) {
      attrs.type = 'terminate';
      if (payload.includes('<stream:error')) attrs.condition = 'remote-stream-error';
    }
    const body = bodyXml(attrs, payload);
    this.remembered.set(rid, body);
    this.remembered.delete(rid - REMEMBERED);
    if (res !== undefined) writeBody(res, body);
    if (this.ending) {
      this.finish();
      return false;
    }
    this.armInactivity();
    return true;
  }

  private armInactivity(): void {
    if (this.held.length === 0 && this.responsesOf.size === 0 && !this.closed) this.inactivity.start();
  }

  /**
   * Ends the session: every request still open (and `also`, one taken but not held) gets a terminate body,
   * with `condition` when a binding error ends it. Output not sent is dropped here: the c2s stream sees its
   * transport close and treats it as a lost connection (stream management keeps or requeues it).
   */
  private finish(condition?: string, also?: ServerResponse): void {
    if (this.closed) return;
    this.closed = true;
    this.inactivity.stop();
    const end = bodyXml({ type: 'terminate', condition });
    if (also !== undefined) writeBody(also, end);
    for (const h of this.held.splice(0)) {
      clearTimeout(h.timer);
      writeBody(h.res, end);
    }
    for (const res of this.responsesOf.values()) writeBody(res, end);
    this.responsesOf.clear();
    this.early.clear();
    this.output = [];
    this.outputBytes = 0;
    this.onGone(this);
    this.onClose(false);
  }
}
