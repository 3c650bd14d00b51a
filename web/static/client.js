// Switchboard signaling protocol v1 client (docs/protocol.md).
//
// No DOM code: it needs only WebSocket, fetch, timers and EventTarget, so it
// runs in any page or worker. It keeps one WebSocket open, sends the
// app-level heartbeat, reconnects with capped exponential backoff and
// re-joins the room it was in, paces its frames under the server's rate
// limit, and renews TURN credentials before they expire.
//
// Events (CustomEvent, payload in .detail):
//   state          {state: "connecting"|"open"|"reconnecting"|"closed", attempt, delay}
//   welcome        the welcome frame
//   joined         the joined frame, plus rejoin: true after a reconnect
//   peer-joined, peer-left, offer, answer, candidate, message
//                  the frame as received (relayed frames carry "from")
//   ice-servers    {iceServers, ttl} after a credential refresh
//   error          an error frame no pending request claimed, or
//                  {code, message} for client-side failures
//   close          {code, reason, willReconnect}

const DEFAULTS = {
  backoffBase: 500, // ms, first reconnect delay before jitter
  backoffCap: 30000, // ms, longest reconnect delay
  stableAfter: 10000, // ms a connection must live to reset the backoff
  requestTimeout: 10000, // ms to wait for a reply to a request
  connectTimeout: 10000, // ms from dialing to welcome before trying again
  refreshIceServers: true,
  // Pacing below the server's per-session limit (50 frames/s, burst 100):
  // a newcomer offering to 15 peers with trickled candidates would
  // otherwise burst past it and have candidates dropped. Frames wait in
  // order instead.
  sendRate: 40, // frames per second
  sendBurst: 80,
  maxFrameBytes: 64 << 10, // the server closes the connection on larger frames
};

const RELAYED = new Set(["offer", "answer", "candidate", "message"]);

/** Error thrown for error frames and failed requests; .code is the protocol code. */
export class SignalingError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = "SignalingError";
    this.code = code;
  }
}

export class SignalingClient extends EventTarget {
  /**
   * @param {string} url ws:// or wss:// URL of /v1/ws
   * @param {object} [options] overrides of DEFAULTS
   */
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.options = { ...DEFAULTS, ...options };
    this._ws = null;
    this._open = false;
    this._wanted = false; // connect() called and disconnect() not since
    this._attempt = 0;
    this._openedAt = 0;
    this._reconnectTimer = null;
    this._heartbeatTimer = null;
    this._pongTimer = null;
    this._iceTimer = null;
    this._welcomeTimer = null;
    this._nextId = 1;
    this._pending = new Map(); // id -> {resolve, reject, timer}
    this._session = null; // {id, token, heartbeat}
    this._iceServers = [];
    this._target = null; // {room, name}: the room to be in, across reconnects
    this._room = null; // the room the current session is in
    this._joinWaiters = [];
    this._outbox = []; // encoded frames waiting for send tokens
    this._tokens = 0;
    this._tokensAt = 0;
    this._flushTimer = null;
  }

  /** Public id of the current session, or null. */
  get sessionId() {
    return this._session ? this._session.id : null;
  }

  /** True while a welcomed WebSocket is open. */
  get connected() {
    return this._open && this._session !== null;
  }

  /** Room the current session is in, or null. */
  get room() {
    return this._room;
  }

  /** Latest RTCIceServer list (from welcome or a refresh). */
  get iceServers() {
    return this._iceServers;
  }

  /** Opens the connection and keeps it open until disconnect(). */
  connect() {
    this._wanted = true;
    if (!this._ws && !this._reconnectTimer) this._dial();
  }

  /** Closes deliberately: no reconnect. Peers see peer-left. */
  disconnect() {
    this._wanted = false;
    this._target = null;
    this._attempt = 0;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    const ws = this._ws;
    this._teardown();
    if (ws) ws.close(1000, "bye");
    this._rejectJoinWaiters(new SignalingError("closed", "disconnected"));
    this._emit("close", { code: 1000, reason: "bye", willReconnect: false });
    this._emit("state", { state: "closed" });
  }

  /** Skips the remaining backoff delay, e.g. when the network comes back. */
  reconnectNow() {
    if (this._wanted && this._reconnectTimer) {
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = null;
      this._dial();
    }
  }

  /**
   * Joins room (and re-joins it after every reconnect until leave()).
   * Resolves with the joined frame.
   */
  join(room, name = "") {
    this._target = { room, name };
    const p = new Promise((resolve, reject) => this._joinWaiters.push({ resolve, reject }));
    if (this.connected && !this._room) this._sendJoin();
    return p;
  }

  /** Leaves the room; resolves with the left frame (or at once when offline). */
  leave() {
    this._target = null;
    this._rejectJoinWaiters(new SignalingError("left", "left before joining"));
    if (!this.connected || !this._room) {
      this._room = null;
      return Promise.resolve({ type: "left" });
    }
    return this.request({ type: "leave" }).then((f) => {
      this._room = null;
      return f;
    });
  }

  offer(to, sdp) {
    return this.send({ type: "offer", to, sdp });
  }

  answer(to, sdp) {
    return this.send({ type: "answer", to, sdp });
  }

  /** candidate is an RTCIceCandidateInit, or null for end of candidates. */
  candidate(to, candidate) {
    return this.send({ type: "candidate", to, candidate });
  }

  /** Sends data (any JSON) to one peer, or to the whole room when to is empty. */
  message(data, to) {
    const frame = { type: "message" };
    if (to) frame.to = to;
    frame.data = data;
    return this.send(frame);
  }

  /**
   * Queues one frame for sending, paced under the server's rate limit.
   * Returns false when there is no open connection or the frame is too
   * large to send.
   */
  send(frame) {
    if (!this._open || this._ws.readyState !== WebSocket.OPEN) return false;
    const text = JSON.stringify(frame);
    if (text.length * 3 > this.options.maxFrameBytes && new TextEncoder().encode(text).length > this.options.maxFrameBytes) {
      this._emit("error", { code: "too_large", message: `${frame.type} frame over ${this.options.maxFrameBytes} bytes not sent` });
      return false;
    }
    this._outbox.push(text);
    this._flush();
    return true;
  }

  /** Sends frame with a fresh id; resolves with the reply, rejects on an error frame. */
  request(frame) {
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...frame, id })) {
        reject(new SignalingError("offline", "not connected"));
        return;
      }
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new SignalingError("timeout", `no reply to ${frame.type}`));
      }, this.options.requestTimeout);
      this._pending.set(id, { resolve, reject, timer });
    });
  }

  /** Fetches fresh ICE servers for this session: {iceServers, ttl}. */
  async fetchIceServers() {
    if (!this._session) throw new SignalingError("offline", "no session");
    const url = new URL("/v1/ice-servers", this.url.replace(/^ws/, "http"));
    const resp = await fetch(url, {
      headers: { Authorization: "Bearer " + this._session.token },
      cache: "no-store",
    });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new SignalingError(body.code || "http_" + resp.status, body.message);
    return body;
  }

  // --- internals ---

  _flush() {
    const { sendRate, sendBurst } = this.options;
    const now = Date.now();
    this._tokens = Math.min(sendBurst, this._tokens + ((now - this._tokensAt) * sendRate) / 1000);
    this._tokensAt = now;
    while (this._outbox.length > 0 && this._tokens >= 1) {
      this._ws.send(this._outbox.shift());
      this._tokens--;
    }
    if (this._outbox.length > 0 && !this._flushTimer) {
      const wait = Math.ceil(((1 - this._tokens) * 1000) / sendRate);
      this._flushTimer = setTimeout(() => {
        this._flushTimer = null;
        if (this._open) this._flush();
      }, wait);
    }
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _dial() {
    this._reconnectTimer = null;
    this._emit("state", { state: "connecting", attempt: this._attempt });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this._emit("error", { code: "bad_url", message: String(err) });
      this._wanted = false;
      return;
    }
    this._ws = ws;
    ws.onopen = () => {
      this._open = true;
      this._openedAt = Date.now();
      // The server starts each session with a full bucket.
      this._tokens = this.options.sendBurst;
      this._tokensAt = this._openedAt;
    };
    ws.onmessage = (ev) => this._onFrame(ev.data);
    ws.onclose = (ev) => {
      if (this._ws === ws) this._closed(ev.code, ev.reason);
    };
    // A blackholed connect can take minutes to fail on its own.
    this._welcomeTimer = setTimeout(() => {
      if (this._ws !== ws) return;
      this._closed(4001, "connect timeout");
      ws.close();
    }, this.options.connectTimeout);
    // onerror is always followed by onclose, which does the work.
  }

  _onFrame(text) {
    let f;
    try {
      f = JSON.parse(text);
    } catch {
      this._emit("error", { code: "bad_frame", message: "server sent invalid JSON" });
      return;
    }
    if (!f || typeof f.type !== "string") return;

    if (f.re !== undefined && this._pending.has(f.re)) {
      const p = this._pending.get(f.re);
      this._pending.delete(f.re);
      clearTimeout(p.timer);
      if (f.type === "error") {
        p.reject(new SignalingError(f.code, f.message));
        return;
      }
      p.resolve(f);
    }
    switch (f.type) {
      case "welcome":
        this._welcome(f);
        return;
      case "pong":
        clearTimeout(this._pongTimer);
        this._pongTimer = null;
        return;
      case "joined":
      case "left":
        // Replies to our own requests, handled by their promises.
        return;
      case "error":
        this._emit("error", f);
        return;
      case "peer-joined":
      case "peer-left":
        this._emit(f.type, f);
        return;
      default:
        if (RELAYED.has(f.type)) this._emit(f.type, f);
    }
  }

  _welcome(f) {
    clearTimeout(this._welcomeTimer);
    this._welcomeTimer = null;
    this._session = { id: f.session, token: f.token, heartbeat: f.heartbeat };
    this._iceServers = Array.isArray(f.iceServers) ? f.iceServers : [];
    this._emit("welcome", f);
    this._emit("state", { state: "open" });
    if (f.heartbeat > 0) {
      this._heartbeatTimer = setInterval(() => this._ping(), f.heartbeat * 1000);
    }
    if (this.options.refreshIceServers && this._iceServers.some((s) => s.credential)) {
      this._refreshIce(0);
    }
    if (this._target) this._sendJoin();
  }

  _sendJoin() {
    const { room, name } = this._target;
    const rejoin = this._joinWaiters.length === 0;
    const session = this._session;
    const frame = { type: "join", room };
    if (name) frame.name = name;
    this.request(frame).then(
      (joined) => {
        if (this._session !== session) return; // reconnected meanwhile
        this._room = joined.room;
        this._emit("joined", { ...joined, rejoin });
        for (const w of this._joinWaiters.splice(0)) w.resolve(joined);
      },
      (err) => {
        if (this._session !== session || err.code === "offline") return; // retried on welcome
        if (err.code === "timeout") {
          // No reply: treat the connection as dead and join again on a new one.
          const ws = this._ws;
          this._closed(4002, "join timeout");
          if (ws) ws.close();
          return;
        }
        this._target = null;
        this._emit("error", { type: "error", code: err.code, message: err.message });
        this._rejectJoinWaiters(err);
      },
    );
  }

  _rejectJoinWaiters(err) {
    for (const w of this._joinWaiters.splice(0)) w.reject(err);
  }

  // A browser cannot see WebSocket pings, so a half-open connection (a
  // laptop waking up, a NAT dropping state) is only noticed by an
  // unanswered app-level ping.
  _ping() {
    if (this._pongTimer) return;
    if (!this.send({ type: "ping" })) return;
    this._pongTimer = setTimeout(() => {
      const ws = this._ws;
      this._closed(4000, "heartbeat timeout");
      if (ws) ws.close();
    }, this._session.heartbeat * 1000);
  }

  _refreshIce(delayMs) {
    const session = this._session;
    clearTimeout(this._iceTimer);
    this._iceTimer = setTimeout(async () => {
      if (this._session !== session) return;
      let next = 30000;
      try {
        const r = await this.fetchIceServers();
        if (this._session !== session) return;
        this._iceServers = r.iceServers || [];
        // Renew at three quarters of the lifetime; a failure retries soon.
        if (r.ttl > 0) next = Math.max(30, r.ttl * 0.75) * 1000;
        else return;
        if (delayMs > 0) this._emit("ice-servers", r);
      } catch (err) {
        if (err.code === "unauthorized") return; // session gone; the next welcome starts over
      }
      if (this._session === session) this._refreshIce(next);
    }, delayMs);
  }

  _teardown() {
    const ws = this._ws;
    if (ws) ws.onopen = ws.onmessage = ws.onclose = null;
    this._ws = null;
    this._open = false;
    this._session = null;
    this._room = null;
    clearInterval(this._heartbeatTimer);
    clearTimeout(this._pongTimer);
    clearTimeout(this._iceTimer);
    clearTimeout(this._flushTimer);
    clearTimeout(this._welcomeTimer);
    this._heartbeatTimer = this._pongTimer = this._iceTimer = this._flushTimer = this._welcomeTimer = null;
    this._outbox = [];
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(new SignalingError("offline", "connection closed"));
    }
    this._pending.clear();
  }

  _closed(code, reason) {
    const lived = this._open ? Date.now() - this._openedAt : 0;
    this._teardown();
    if (lived >= this.options.stableAfter) this._attempt = 0;
    const willReconnect = this._wanted;
    this._emit("close", { code, reason, willReconnect });
    if (!willReconnect) {
      this._emit("state", { state: "closed" });
      return;
    }
    // Capped exponential backoff with "equal jitter": half fixed, half
    // random, so a server restart is not met by a synchronized stampede.
    const { backoffBase, backoffCap } = this.options;
    const ceiling = Math.min(backoffCap, backoffBase * 2 ** this._attempt);
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this._attempt++;
    this._emit("state", { state: "reconnecting", attempt: this._attempt, delay });
    this._reconnectTimer = setTimeout(() => this._dial(), delay);
  }
}
