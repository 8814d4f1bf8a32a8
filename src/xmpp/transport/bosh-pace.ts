/**
 * How often a BOSH client may send requests (XEP-0124 §11 "Overactivity", §12 "Polling Sessions"). A
 * session that breaks either rule ends with the terminal condition policy-violation.
 */

import type { XmlElement } from '../../util/xml.js';

/** The shortest polling interval allowed (§7.1 'polling'), in seconds. */
export const POLLING = 1;

/**
 * A request that carries nothing: no payload, and no stream restart (XEP-0206), pause or terminate, which
 * are messages in themselves. The creation request (no sid) is not empty either.
 */
function isEmpty(body: XmlElement): boolean {
  const a = body.attrs;
  return a.sid !== undefined && !body.children.some((c) => typeof c !== 'string') && a['xmpp:restart'] === undefined && a.pause === undefined && a.type === undefined;
}

/**
 * The request history of one session that §11 and §12 judge. A resent request (§14.3) is not a new one:
 * it is never shown here. The "sequence" both sections speak of is the client's, in rid order: a request
 * delayed on the network behind a later one does not make the later one the last.
 */
export class RequestPace {
  /** When each recent new request arrived, by rid. */
  private readonly arrivals = new Map<number, number>();
  /** The last request taken in rid order, for §12: when, whether empty, whether answered with nothing. */
  private lastTaken = { rid: -1, at: 0, empty: false, answeredEmpty: false };

  /**
   * @param requests the 'requests' the session creation response announced
   * @param polls whether the session polls (hold='0' or wait='0'): §11's second rule is for the others ("the behavior for Polling Sessions is slightly different")
   */
  constructor(
    private readonly requests: number,
    private readonly polls: boolean,
  ) {}

  /** A new request arrived. */
  arrived(rid: number): void {
    this.arrivals.set(rid, Date.now());
    this.arrivals.delete(rid - 2 * this.requests);
  }

  /**
   * §11's first rule, on the arrival of a new request: more than 'requests' open at once (`open`, the
   * session's requests not answered yet, the new one included) is too many simultaneous requests, for
   * every session, unless the last of them (`last`, the highest rid open) pauses or terminates the
   * session: the one more that §11 allows.
   */
  tooMany(open: number, last: XmlElement): boolean {
    return open > this.requests && !closing(last);
  }

  /**
   * When a request is taken in rid order, with `held` the rids held unanswered as it comes:
   *  - §11's second rule, for sessions that hold requests: 'requests' of them in a row unanswered, the last
   *    empty and less than 'polling' seconds after the one before it, is a client that sends empty requests
   *    while it already has 'hold' held, faster than it may. A client that sends an empty request only with
   *    none out, and payloads beside the held one (Strophe.js with hold=1), never meets it.
   *  - §12: two consecutive empty requests less than 'polling' seconds apart, the first answered with
   *    nothing, is a client polling faster than it may. Only with no request held: a request that frees a
   *    held one is left to §11.
   */
  taken(rid: number, body: XmlElement, held: readonly number[]): boolean {
    const empty = isEmpty(body);
    const now = Date.now();
    const last = this.lastTaken;
    this.lastTaken = { rid, at: now, empty, answeredEmpty: false };
    if (!empty) return false;
    if (!this.polls && held.filter((r) => r < rid && r >= rid - this.requests + 1).length === this.requests - 1) {
      const at = this.arrivals.get(rid);
      const before = this.arrivals.get(rid - 1);
      if (at !== undefined && before !== undefined && Math.abs(at - before) < POLLING * 1000) return true;
    }
    return last.empty && last.answeredEmpty && last.rid === rid - 1 && held.length === 0 && now - last.at < POLLING * 1000;
  }

  /** Request `rid` was answered, with nothing in it or not (§12 looks at the last one taken). */
  answered(rid: number, empty: boolean): void {
    if (rid === this.lastTaken.rid) this.lastTaken.answeredEmpty = empty;
  }
}

function closing(body: XmlElement): boolean {
  return body.attrs.pause !== undefined || body.attrs.type === 'terminate';
}
