/**
 * When a BOSH session has lost its client (XEP-0124 §10 "Inactivity"): the period a session may go with
 * every request answered, and the temporary pause a client may ask for, up to the 'maxpause' announced,
 * to keep its session across a gap in which it can send nothing (a page being reloaded).
 */

/**
 * The terminal condition a request's 'pause' gets, or null when it is absent or acceptable. The XEP says
 * what a pause within 'maxpause' is owed, not what one beyond it gets; it is a client breaking the
 * session's announced rules, which is what policy-violation stands for (§17). A value that is not a
 * number of seconds is a binding element of unacceptable format: bad-request.
 */
export function refusedPause(pause: string | undefined, maxPause: number): 'bad-request' | 'policy-violation' | null {
  if (pause === undefined) return null;
  if (!/^\d{1,9}$/.test(pause)) return 'bad-request';
  return Number(pause) > maxPause ? 'policy-violation' : null;
}

/**
 * The inactivity clock of one session. It runs only while the session has no request open (the session
 * says when); a pause sets its length for the next such gap alone, since §10 has the period go back to
 * normal on the next request.
 */
export class InactivityClock {
  private timer: NodeJS.Timeout | null = null;
  /** Seconds of the pause the client asked for, until its next request. */
  private pausedFor: number | null = null;

  /**
   * @param seconds the period announced in the session creation response
   * @param onExpire ends the session, its client taken for gone
   */
  constructor(
    readonly seconds: number,
    private readonly onExpire: () => void,
  ) {}

  /** Starts counting, unless it already is. */
  start(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(this.onExpire, (this.pausedFor ?? this.seconds) * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** §10: the client will send nothing for up to `seconds`; the gap from now on is that long. */
  pause(seconds: number): void {
    this.pausedFor = seconds;
    this.stop();
  }

  /** A request came: a pause is over, and a gap already counting counts with the normal period from now. */
  requestCame(): void {
    if (this.pausedFor === null) return;
    this.pausedFor = null;
    if (this.timer === null) return;
    this.stop();
    this.start();
  }
}
