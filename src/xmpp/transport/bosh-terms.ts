/**
 * The terms of a BOSH session (XEP-0124 §7.1): what the connection manager grants, from what the client
 * asks for in its session creation request and the server's limits, and the attributes that announce
 * them in the session creation response.
 */

import type { Attrs } from '../../util/xml.js';
import { sessionVersion } from './bosh-body.js';
import { POLLING } from './bosh-pace.js';

/** At most one request is held open (§7 "hold"); the client may have two out (requests = hold + 1). */
export const HOLD = 1;
export const REQUESTS = HOLD + 1;

export interface BoshLimits {
  maxWaitSeconds: number;
  inactivitySeconds: number;
  /** Bytes of output kept for a client that has no request open; beyond, it is taken for gone. */
  maxQueuedBytes: number;
  /** The longest pause a client may ask for (§10), announced as 'maxpause'. */
  maxPauseSeconds: number;
}

export interface SessionTerms {
  /** Longest a request is held, in seconds. */
  wait: number;
  /** Requests held open at once: HOLD, or fewer if the client asked for fewer. */
  hold: number;
  /** The client polls (wait='0' or hold='0', §12): its requests are answered at once. */
  polls: boolean;
  /** Seconds with every request answered after which the client is taken for gone (§10). */
  inactivity: number;
  maxPause: number;
}

/** §7.1: never more than the client asked for; wait='0' or hold='0' is a client that polls, answered at once (§12). */
export function grant(asked: Attrs, limits: BoshLimits): SessionTerms {
  const wait = asked.wait === undefined ? NaN : Number(asked.wait);
  const hold = Number(asked.hold);
  const terms = {
    wait: Number.isFinite(wait) && wait >= 0 ? Math.min(wait, limits.maxWaitSeconds) : limits.maxWaitSeconds,
    hold: Number.isInteger(hold) && hold >= 0 ? Math.min(hold, HOLD) : HOLD,
  };
  const polls = terms.hold === 0 || terms.wait === 0;
  // §12: a polling client waits at least 'polling' seconds between requests on top of the round trip the
  // inactivity period is sized for, so its period is longer by more than that.
  const inactivity = limits.inactivitySeconds + (polls ? 2 * POLLING : 0);
  return { ...terms, polls, inactivity, maxPause: limits.maxPauseSeconds };
}

/** The attributes of the session creation response (§7.1, XEP-0206 §3), `asked` being the request's. */
export function announce(terms: SessionTerms, sid: string, asked: Attrs, secure: boolean): Attrs {
  return {
    sid,
    wait: String(terms.wait),
    requests: String(REQUESTS),
    hold: String(terms.hold),
    inactivity: String(terms.inactivity),
    maxpause: String(terms.maxPause),
    polling: String(POLLING),
    ver: sessionVersion(asked.ver),
    secure: secure ? 'true' : 'false',
    'xmpp:version': '1.0',
    // XEP-0206 §3: the stream restart after SASL (xmpp:restart) is understood; clients that check (Movim's) restart only when told.
    'xmpp:restartlogic': 'true',
  };
}
