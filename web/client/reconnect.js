// When and on which channel to reconnect. No DOM code.

export const TRANSPORTS = ["ws", "sse", "poll"];

export class Redial {
  /**
   * @param {string[]} transports  in order of preference; one forces it
   * @param {object} o  backoffBase, backoffCap, resumeBackoffCap, stableAfter (ms), fallbackAfter (attempts)
   */
  constructor(transports, o) {
    this.transports = transports;
    this.o = o;
    this.attempt = 0;
    this._ti = 0; // index of the transport in use or next to try
    this._failures = 0; // consecutive failed attempts on it
  }

  /** The transport to use: "ws", "sse" or "poll". */
  get kind() {
    return this.transports[this._ti];
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
    } else {
      this._failures++;
    }
    const cap = resumable ? Math.min(this.o.backoffCap, this.o.resumeBackoffCap || Infinity) : this.o.backoffCap;
    const ceiling = Math.min(cap, this.o.backoffBase * 2 ** this.attempt);
    this.attempt++;
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  /** True when the transport keeps failing and there is another to try. */
  get wantsFallback() {
    return this._failures >= this.o.fallbackAfter && this.transports.length > 1;
  }

  /** Moves on to the next transport, round the list. */
  fallback() {
    this._ti = (this._ti + 1) % this.transports.length;
    this._failures = 0;
  }
}

/**
 * Whether the server answers plain HTTP. Falling back only then keeps a
 * server that is down (or a network that is) from pushing every client
 * down to long-polling after a mere restart.
 */
export async function serverReachable(base, timeoutMs = 5000) {
  try {
    // Any HTTP answer will do; without a token this one is a quick 401.
    await fetch(new URL("/v1/ice-servers", base), { cache: "no-store", signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  }
}
