// When and on which channel to reconnect, and when to try the preferred
// one again. No DOM code.
//
// A channel is given up for the next one (fallback) only on evidence
// against it: fallbackAfter attempts in a row that failed while the
// server answered plain HTTP. A server going away (a close it announced, a
// refused or reset connection, a proxy answering 502 while the node
// restarts) says nothing about the channel; carrier.js decides which ends
// count and asks serverReachable. Once fallen back, the client probes the
// preferred channel again now and then (climbDelay) and moves back to it.

export const TRANSPORTS = ["ws", "sse", "poll"];

// Channels a session can be moved back to while another carries it: they
// say "resumed" when they take it up (a poll has no such notice).
const CLIMBABLE = new Set(["ws", "sse"]);

export class Redial {
  /**
   * @param {string[]} transports  in order of preference; one forces it
   * @param {object} o  backoffBase, backoffCap, resumeBackoffCap, stableAfter, climbBase, climbCap (ms), fallbackAfter (attempts)
   */
  constructor(transports, o) {
    this.transports = transports;
    this.o = o;
    this.attempt = 0;
    this._ti = 0; // index of the transport in use or next to try
    this._failures = 0; // consecutive attempts that failed while the server answered
    this._climbs = 0; // probes of the preferred transport since the last fallback or restart
  }

  /** The transport to use: "ws", "sse" or "poll". */
  get kind() {
    return this.transports[this._ti];
  }

  /**
   * The transport to move back to while kind carries the session, or
   * null: the first of the list, when it is not kind and can take a
   * session over (ws or sse), and climbing is on (climbBase > 0).
   */
  get preferred() {
    const first = this.transports[0];
    return this._ti > 0 && CLIMBABLE.has(first) && this.o.climbBase > 0 ? first : null;
  }

  reset() {
    this.attempt = 0;
  }

  /**
   * A channel ended (not on purpose) after carrying the session for lived
   * ms (0: it never got that far). Returns the delay before the next try:
   * capped exponential backoff with "equal jitter", half fixed, half
   * random, so a server restart is not met by a synchronized stampede.
   * While a session is held (resumable) the cap is resumeBackoffCap: the
   * server keeps a detached session for its grace period only (30 s by
   * default), and a retry that comes after it loses the session and so
   * every call (the peers see peer-left).
   */
  ended(lived, resumable = false) {
    if (lived >= this.o.stableAfter) {
      this.attempt = 0;
      this._failures = 0;
    }
    const cap = resumable ? Math.min(this.o.backoffCap, this.o.resumeBackoffCap || Infinity) : this.o.backoffCap;
    const delay = jitter(Math.min(cap, this.o.backoffBase * 2 ** this.attempt));
    this.attempt++;
    return delay;
  }

  /** An attempt on kind failed while the server answered plain HTTP: evidence against kind. */
  failed() {
    this._failures++;
  }

  /** A channel carries the session: kind works, whatever failed before. */
  carried() {
    this._failures = 0;
  }

  /** True when the transport keeps failing and there is another to try. */
  get wantsFallback() {
    return this._failures >= this.o.fallbackAfter && this.transports.length > 1;
  }

  /** Moves on to the next transport, round the list. */
  fallback() {
    this._ti = (this._ti + 1) % this.transports.length;
    this._failures = 0;
    this._climbs = 0;
  }

  /**
   * The delay before the next probe of the preferred transport: capped
   * exponential backoff (climbBase, doubling, up to climbCap) with equal
   * jitter, counted from the fallback or the last restart.
   */
  climbDelay() {
    const delay = jitter(Math.min(this.o.climbCap, this.o.climbBase * 2 ** this._climbs));
    this._climbs++;
    return delay;
  }

  /** The server went away and came back: it may take the preferred transport now. */
  restarted() {
    this._climbs = 0;
  }

  /** A probe of the preferred transport took the session over: it is in use again. */
  climbed() {
    this._ti = 0;
    this._failures = 0;
    this._climbs = 0;
  }
}

function jitter(ceiling) {
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/**
 * Whether the server answers plain HTTP: any answer but a 5xx (a proxy's
 * 502 or 503 while the node behind it restarts, the node's own 503 while
 * it stops). Falling back only then keeps a server that is down (or a
 * network that is) from pushing every client down to long-polling after a
 * mere restart.
 */
export async function serverReachable(base, timeoutMs = 5000) {
  try {
    // Without a token this one is a quick 401.
    const resp = await fetch(new URL("/v1/ice-servers", base), { cache: "no-store", signal: AbortSignal.timeout(timeoutMs) });
    return resp.status < 500;
  } catch {
    return false;
  }
}
