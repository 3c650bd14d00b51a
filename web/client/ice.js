// TURN credentials expire (docs/protocol.md, "ICE servers and TURN
// credentials"): fetch fresh ones with the session's token while it is in
// a room (the server refuses them outside one: not_in_room), and renew
// them before they run out. No DOM code.

/** Error of a refused request; .code is the protocol code. */
export class IceError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = "IceError";
    this.code = code;
  }
}

/** GET /v1/ice-servers for the session whose token this is: {iceServers, ttl}. */
export async function fetchIceServers(base, token) {
  const resp = await fetch(new URL("/v1/ice-servers", base), {
    headers: { Authorization: "Bearer " + token },
    cache: "no-store",
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new IceError(body.code || "http_" + resp.status, body.message);
  return body;
}

export class IceRefresher {
  /**
   * @param {string} base  the server's http(s) origin
   * @param {(r: {iceServers, ttl}) => void} got  renewed servers
   */
  constructor(base, got) {
    this.base = base;
    this.got = got;
    this._timer = null;
    this._token = null;
    this._gen = 0; // bumped by renewIn() and stop(): answers of older fetches are moot
  }

  /**
   * Forgets any fetch under way and renews at three quarters of ttl
   * (seconds), then of each new lifetime, until stop(): the servers were
   * just handed over by a joined frame (a fetch started before it could
   * answer for another room).
   */
  renewIn(token, ttl) {
    this.stop();
    this._token = token;
    this._schedule(this._gen, ttl > 0 ? Math.max(30, ttl * 0.75) * 1000 : 0);
  }

  stop() {
    clearTimeout(this._timer);
    this._timer = null;
    this._token = null;
    this._gen++;
  }

  _schedule(gen, delayMs) {
    const token = this._token;
    this._timer = setTimeout(async () => {
      let next = 30000; // a failure retries soon
      try {
        const r = await fetchIceServers(this.base, token);
        if (this._gen !== gen) return;
        if (!(r.ttl > 0)) return;
        next = Math.max(30, r.ttl * 0.75) * 1000;
        this.got(r);
      } catch (err) {
        if (err.code === "unauthorized") return; // session gone; the next welcome starts over
        if (err.code === "not_in_room") return; // left the room; the next joined starts over
      }
      if (this._gen === gen) this._schedule(gen, next);
    }, delayMs);
  }
}
