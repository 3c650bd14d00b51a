// Switchboard signaling protocol v1 client (docs/protocol.md). No DOM
// code: it runs in browsers and in Node (give it options.WebSocket there).
//
// A session outlives its channel: the client carries it over WebSocket,
// server-sent events or long-polling (channels.js), falls back from one to
// the next when a channel keeps failing while the server answers, climbs
// back to WebSocket when it works again, reconnects with backoff and jitter
// (reconnect.js) and resumes with the token and the last seq it handled:
// no event is lost or handled twice. Only when resuming fails does a new
// session start, and the client re-joins its room. It sends the heartbeat,
// paces frames under the rate limit (outbox.js) and renews TURN
// credentials (ice.js).
//
// welcome carries STUN only: TURN credentials are handed to a session in
// a room, with joined.iceServers (in a cluster, the room's own relay), and
// renewed while it stays there. Channels carry room= and follow the
// room's owner node (carrier.js).
//
// Events (CustomEvent, payload in .detail):
//   state          {state: "connecting"|"open"|"reconnecting"|"closed",
//                   transport: "ws"|"sse"|"poll", attempt, delay, at, resumed}
//   welcome        the welcome frame of each new session
//   resumed        {session, transport, after, last}: a channel took up the
//                  session again; nothing was lost and the room is kept
//   resume-failed  {message}: the old session is gone (its peers saw
//                  peer-left); a welcome and a re-join follow
//   joined         the joined frame, plus rejoin: true in a new session
//   peer-joined, peer-left, offer, answer, candidate, message
//                  the frame as received (relayed frames carry "from")
//   ice-servers    {iceServers, ttl} after a credential refresh, or
//                  {iceServers, ttl, room} from a joined frame, whose
//                  servers carry the TURN credentials (sent before that
//                  joined event)
//   moving         {from, to}: joined named the room's owner node; the
//                  session is resumed there (origins)
//   transport      {from, to, reason}: the session moves to another
//                  channel kind: "fallback" (from keeps failing while the
//                  server answers) or "climb" (back to the preferred one,
//                  resumed: nothing lost)
//   error          an error frame no pending request claimed, or
//                  {code, message} for client-side failures
//   close          {code, reason, willReconnect, transport}: a channel ended

import { httpBase, postFrames } from "./channels.js";
import { ChannelCarrier, SignalingError } from "./carrier.js";
import { Outbox } from "./outbox.js";
import { TRANSPORTS } from "./reconnect.js";
import { fetchIceServers, IceRefresher } from "./ice.js";

export { SignalingError };

const DEFAULTS = {
  transports: ["ws", "sse", "poll"], // in order of preference
  fallbackAfter: 2, // attempts on one channel that failed while the server answered HTTP, before trying the next
  climbBase: 2000, // ms, first wait before probing the preferred channel again after a fallback (0: never)
  climbCap: 30000, // ms, longest wait between such probes
  backoffBase: 500, // ms, first reconnect delay before jitter
  backoffCap: 30000, // ms, longest reconnect delay
  resumeBackoffCap: 5000, // ms, longest while a session can still be resumed (grace: 30 s)
  stableAfter: 10000, // ms a channel must live to reset the backoff
  requestTimeout: 10000, // ms to wait for a reply to a request
  connectTimeout: 10000, // ms from opening a channel to welcome or resume
  pollTimeout: 60000, // ms one long-poll may take (the server holds it 25 s)
  refreshIceServers: true,
  followOwner: true, // move to the room's owner node when ownerOrigin allows it
  sendRate: 40, // frames per second, below the server's 50
  sendBurst: 80,
  sendByteRate: 24 << 10, // bytes per second, below the server's 32 KiB
  sendByteBurst: 192 << 10,
  maxQueued: 2000, // frames kept while the channel is down
  maxFrameBytes: 64 << 10, // the server refuses larger frames and bodies
  WebSocket: undefined, // the WebSocket constructor: the global one, or e.g. the ws package's in Node
  EventSource: undefined, // the EventSource constructor: the global one, else one on fetch (eventsource.js)
  clientId: undefined, // join's client: this tab's secret, the same for every session (default: random per client)
};

/** A random client id: 32 hex digits. */
function randomClientId() {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const RELAYED = new Set(["offer", "answer", "candidate", "message"]);

export class SignalingClient extends ChannelCarrier {
  /**
   * @param {string} url the server: ws(s):// URL of /v1/ws, or any URL of its origin
   * @param {object} [options] overrides of DEFAULTS; transports: ["sse"] forces one channel
   */
  constructor(url, options = {}) {
    const o = { ...DEFAULTS, ...options };
    const transports = o.transports.filter((t) => TRANSPORTS.includes(t));
    if (transports.length === 0) throw new SignalingError("bad_transport", "no known transport in " + o.transports);
    super(httpBase(url), transports, o);
    this.url = url;
    /** join's client: peers know a session of this tab by its tag (clientTag) whatever its id. */
    this.clientId = o.clientId || randomClientId();
    this._nextId = 1;
    this._pending = new Map(); // id -> {resolve, reject, timer}
    this._session = null; // {id, token, heartbeat}
    this._lastSeq = 0; // seq of the last event handled
    this._replayUntil = 0; // after a resume: the last replayed seq
    this._iceServers = [];
    this._ice = new IceRefresher(this._home, (r) => {
      this._iceServers = r.iceServers || [];
      this._emit("ice-servers", r);
    });
    this._target = null; // {room, name}: the room to be in, across sessions
    this._room = null; // the room the session is in
    this._joinSent = false; // a join is on its way for this session
    this._joinWaiters = [];
    this._outbox = new Outbox({
      rate: o.sendRate, burst: o.sendBurst, byteRate: o.sendByteRate, byteBurst: o.sendByteBurst,
      limit: o.maxQueued, maxBytes: o.maxFrameBytes,
      answerError: (f) => this._onFrame(f),
      ack: () => this._ackSeq(),
      refused: (err) => this._emit("error", { code: err.code, message: err.message }),
      failed: (ch, err) => this._channel === ch && this._failChannel(err.code || "send failed"),
    });
  }

  /** Public id of the current session, or null. */
  get sessionId() {
    return this._session ? this._session.id : null;
  }

  /** True while a channel carries the session. */
  get connected() {
    return this._ready && this._session !== null;
  }

  /** Room the current session is in, or null. */
  get room() {
    return this._room;
  }

  /** Latest RTCIceServer list: STUN from welcome, with TURN once in a room (joined or a refresh). */
  get iceServers() {
    return this._iceServers;
  }

  /** Ends the session deliberately: no reconnect, peers see peer-left at once. */
  disconnect() {
    const ch = this._channel;
    const session = this._session;
    // Asked before the close: a closed channel is no longer writable, and
    // a POSTed bye after the WebSocket's own would get a 401 (issue 20).
    const wsBye = ch && ch.kind === "ws" && ch.writable;
    this._wanted = false;
    this._target = null;
    this._redial.reset();
    this._base = this._home;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    this._channelGone();
    if (ch) ch.close(true); // a WebSocket closes with 1000, which is a bye
    if (session && !wsBye) {
      // keepalive lets the bye out even while the page unloads.
      postFrames(this._home, session.token, ['{"type":"bye"}'], { keepalive: true, room: this._room }).catch(() => {});
    }
    this._endSession(new SignalingError("offline", "disconnected"));
    this._rejectJoinWaiters(new SignalingError("closed", "disconnected"));
    this._emit("close", { code: 1000, reason: "bye", willReconnect: false, transport: this.transport });
    this._emitState("closed");
  }

  /**
   * Joins room (and re-joins it in every new session until leave());
   * resolves with the joined frame. token: a join token from the app's
   * backend, for a server with -join-secret.
   */
  join(room, name = "", { token = "" } = {}) {
    this._target = { room, name, token };
    const p = new Promise((resolve, reject) => this._joinWaiters.push({ resolve, reject }));
    if (this.connected && !this._room && !this._joinSent) this._sendJoin();
    return p;
  }

  /** Leaves the room; resolves with the left frame (or at once when offline). */
  leave() {
    this._target = null;
    this._rejectJoinWaiters(new SignalingError("left", "left before joining"));
    if (this._session && this._room) return this.request({ type: "leave" });
    return Promise.resolve({ type: "left" });
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
   * Queues one frame, paced under the rate limit; while the channel is down
   * it waits for the resume (and is dropped if a new session starts).
   * False when there is no session, the queue is full or the frame too large.
   */
  send(frame) {
    if (!this._session || !this._wanted) return false;
    const text = JSON.stringify(frame);
    if (text.length > this.options.maxFrameBytes / 3 && new TextEncoder().encode(text).length > this.options.maxFrameBytes - 2) {
      this._emit("error", { code: "too_large", message: `${frame.type} frame over ${this.options.maxFrameBytes} bytes not sent` });
      return false;
    }
    return this._outbox.push(text);
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
    return fetchIceServers(this._home, this._session.token);
  }

  // --- downstream ---
  _onFrame(f) {
    if (typeof f.seq === "number") {
      // Events of a session: handle each once, in order. A welcome is a
      // new session unless it is this session's own replayed one.
      const own = this._session && f.session === this._session.id;
      if (f.type === "welcome" && !own) this._lastSeq = 0;
      if (f.seq <= this._lastSeq) return;
      if (this._lastSeq > 0 && f.seq !== this._lastSeq + 1) {
        this._emit("error", { code: "seq_gap", message: `event ${f.seq} after ${this._lastSeq}: events were lost` });
      }
      this._lastSeq = f.seq;
    }
    if (f.type === "error" && this._outbox.refused(f)) {
      // The outbox sends the frame again: nobody else hears of it.
      if (this._replayUntil && this._lastSeq >= this._replayUntil) this._replayed();
      return;
    }
    const p = f.re !== undefined && this._pending.get(f.re);
    if (p) {
      this._pending.delete(f.re);
      clearTimeout(p.timer);
      if (f.type === "error") return p.reject(new SignalingError(f.code, f.message));
      p.resolve(f);
    }
    switch (f.type) {
      case "welcome":
        this._welcome(f);
        break;
      case "resumed":
        if (!this._session || f.session !== this._session.id) break;
        if (this._ready) {
          // An SSE stream came back, or a probe took the session over:
          // frames written into a socket before it go again if unread.
          this._outbox.resend(typeof f.applied === "number" ? f.applied : 0);
          this._emit("resumed", { ...f, transport: this.transport });
        } else this._resumed(f);
        break;
      case "pong":
        if (f.re !== undefined) break; // a request's, not the heartbeat's
        clearTimeout(this._pongTimer);
        this._pongTimer = null;
        this._outbox.handled(this._pinged); // frames up to its ping were handled
        break;
      case "joined":
        this._joinSent = false;
        this._room = f.room;
        if (Array.isArray(f.iceServers)) this._roomIceServers(f);
        this._emit("joined", { ...f, rejoin: this._joinWaiters.length === 0 });
        for (const w of this._joinWaiters.splice(0)) w.resolve(f);
        this._follow(f.owner);
        break;
      case "left":
        this._room = null;
        this._ice.stop(); // outside a room the server refuses TURN credentials
        break;
      case "error":
        if (f.code !== "resume_failed") {
          this._emit("error", f);
          break;
        }
        this._endSession(new SignalingError("offline", "session ended"));
        this._emit("resume-failed", { message: f.message || "" });
        break;
      case "peer-joined":
      case "peer-left":
        this._emit(f.type, f);
        break;
      default:
        if (RELAYED.has(f.type)) this._emit(f.type, f);
    }
    if (this._replayUntil && this._lastSeq >= this._replayUntil) this._replayed();
  }

  _welcome(f) {
    const fresh = !this._session || this._session.id !== f.session;
    if (fresh) this._endSession(new SignalingError("offline", "new session"));
    this._session = { id: f.session, token: f.token, heartbeat: f.heartbeat };
    this._lastSeq = typeof f.seq === "number" ? f.seq : 0;
    this._iceServers = Array.isArray(f.iceServers) ? f.iceServers : []; // STUN: TURN waits for joined
    this._outbox.refill(); // the server starts each session with a full bucket
    if (this._channel && this._channel.rebind) this._channel.rebind(f.token);
    this._emit("welcome", f);
    this._established(false);
    if (this._target) this._sendJoin();
  }

  // The room's ICE servers, with the session's TURN credentials (and in a
  // cluster the pool's host chosen for the room), replace the welcome's
  // STUN, for the peer connections to come and, through the ice-servers
  // event, for those already there (after a new session's re-join).
  _roomIceServers(f) {
    this._iceServers = f.iceServers;
    if (this.options.refreshIceServers && f.iceServers.some((s) => s.credential)) this._ice.renewIn(this._session.token, f.ttl);
    this._emit("ice-servers", { iceServers: f.iceServers, ttl: f.ttl, room: f.room });
  }

  // A channel took up the session: the replayed events (if any) follow on
  // WebSocket and SSE; a poll has already handed them over.
  _resumed(notice) {
    const last = notice && typeof notice.last === "number" ? notice.last : this._lastSeq;
    const after = notice ? notice.after : this._lastSeq;
    const applied = notice && typeof notice.applied === "number" ? notice.applied : 0;
    this._emit("resumed", { session: this._session.id, transport: this.transport, after, last, applied });
    this._outbox.resend(applied);
    this._established(true);
    this._replayUntil = Math.max(last, this._lastSeq + 1);
    if (last <= this._lastSeq) this._replayed();
  }

  // Everything missed has been handled: a join that never got through
  // (lost with a dying channel) goes again.
  _replayed() {
    this._replayUntil = 0;
    if (this._target && !this._room && !this._joinSent) this._sendJoin();
  }

  _established(resumed) {
    clearTimeout(this._connectTimer);
    this._connectTimer = null;
    if (!this._ready) {
      this._ready = true;
      this._readyAt = Date.now();
      this._emitState("open", { resumed });
      this._carried();
    }
    clearInterval(this._heartbeatTimer);
    const hb = this._session.heartbeat;
    if (hb > 0) this._heartbeatTimer = setInterval(() => this._ping(), hb * 1000);
    this._outbox.use(this._channel, this._session.token);
  }

  /** Drops everything of the session (but not the room to be in). */
  _endSession(err) {
    this._session = null;
    this._room = null;
    this._lastSeq = 0;
    this._replayUntil = 0;
    this._joinSent = false;
    this._outbox.clear();
    this._ice.stop();
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this._pending.clear();
  }

  _sendJoin() {
    const { room, name, token } = this._target;
    const session = this._session;
    const frame = { type: "join", room, client: this.clientId };
    if (name) frame.name = name;
    if (token) frame.token = token;
    this._joinSent = true;
    // The joined frame itself is handled in _onFrame, even when it comes
    // only in the replay after a resume; the promise is for failures.
    this.request(frame).catch((err) => {
      if (this._session !== session) return; // a new session joins again
      if (err.code === "timeout") {
        // No reply: the channel is likely dead. A resume replays the
        // joined frame if the join got through, else the outbox sends the
        // join again (its cseq says whether the server had it).
        this._failChannel("join timeout");
        return;
      }
      this._joinSent = false;
      if (err.code === "offline") return;
      this._target = null;
      this._emit("error", { type: "error", code: err.code, message: err.message });
      this._rejectJoinWaiters(err);
    });
  }

  _rejectJoinWaiters(err) {
    for (const w of this._joinWaiters.splice(0)) w.reject(err);
  }

  // Browsers cannot see WebSocket pings, and SSE heartbeats are comments,
  // so a half-open channel (a laptop waking up, a NAT dropping state) is
  // only noticed by an unanswered app-level ping.
  _ping() {
    if (this._pongTimer || !this._ready) return;
    if (!this.send({ type: "ping" })) return;
    this._pinged = this._outbox.last;
    const ch = this._channel;
    this._pongTimer = setTimeout(() => {
      this._pongTimer = null;
      if (this._channel === ch) this._failChannel("heartbeat timeout");
    }, this._session.heartbeat * 1000);
  }
}
