// Keeping a signaling session carried by a channel, for client.js, which
// builds the protocol on it: which channel to open and where, the backoff
// and fallback after one ends, and moving to a room's owner node. No DOM
// code.
//
// In a cluster (docs/cluster.md) every channel's URL carries room= once the
// room is known, so a load balancer hashing on it keeps a room's peers on
// one node; a joined frame naming the room's owner node moves the session
// there by resuming it (ownerOrigin in channels.js says which owners may be
// followed).
//
// The subclass provides what channels report to: _onFrame(f),
// _resumed(notice), _endSession(err), and _session, _lastSeq, _room,
// _target, _outbox.

import { openChannel, ownerOrigin } from "./channels.js";
import { Redial, serverReachable } from "./reconnect.js";

/** Error thrown for error frames and failed requests; .code is the protocol code. */
export class SignalingError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = "SignalingError";
    this.code = code;
  }
}

export class ChannelCarrier extends EventTarget {
  /**
   * @param {string} home  the http(s) origin of the server the client was given
   * @param {string[]} transports  in order of preference
   * @param {object} options  the client's
   */
  constructor(home, transports, options) {
    super();
    this.options = options;
    // HTTP requests (ICE servers, probes, a bye) go home; channels go to
    // _base, the room's owner node after a move. An owner that failed to
    // carry the session is not tried again.
    this._home = home;
    this._base = home;
    this._unreachable = new Set();
    this._redial = new Redial(transports, options);
    this._channel = null;
    this._ready = false; // the channel carries the session (welcome or resume seen)
    this._readyAt = 0;
    this._resumeNowAt = 0; // last reconnect without backoff (close 4000)
    this._wanted = false; // connect() called and disconnect() not since
    this._reconnectTimer = null;
    this._connectTimer = null;
    this._heartbeatTimer = null;
    this._pongTimer = null;
    this._pinged = 0; // the cseq of the heartbeat's ping waiting for its pong
  }

  /** The channel in use, or the one being tried: "ws", "sse" or "poll". */
  get transport() {
    return this._channel ? this._channel.kind : this._redial.kind;
  }

  /** The origin channels go to: the server given, or the room's owner node after a move. */
  get channelOrigin() {
    return this._base;
  }

  /** Opens a channel and keeps the session carried until disconnect(). */
  connect() {
    this._wanted = true;
    if (!this._channel && !this._reconnectTimer) this._dial();
  }

  /** Skips the remaining backoff delay, e.g. when the network comes back. */
  reconnectNow() {
    if (this._wanted && this._reconnectTimer) {
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = null;
      this._dial();
    }
  }

  _dial() {
    this._reconnectTimer = null;
    const hooks = {
      cursor: () => ({ token: this._session ? this._session.token : null, after: this._lastSeq }),
      frame: (f) => this._channel === ch && this._onFrame(f),
      ready: () => this._channel === ch && !this._ready && this._session && this._resumed(null),
      end: (info) => this._channel === ch && this._channelEnded(info),
    };
    this._emitState("connecting", { attempt: this._redial.attempt });
    let ch;
    try {
      const room = this._room || (this._target && this._target.room) || null;
      ch = openChannel(this._redial.kind, this._base, hooks, { ...this.options, room });
    } catch (err) {
      this._emit("error", { code: "bad_url", message: String(err) });
      this._wanted = false;
      this._emitState("closed");
      return;
    }
    this._channel = ch;
    // A blackholed connect or a buffering proxy can hang for minutes.
    this._connectTimer = setTimeout(() => {
      if (this._channel === ch && !this._ready) this._failChannel("connect timeout");
    }, this.options.connectTimeout);
  }

  /** Ends the current channel as failed (no answer in time); the session detaches. */
  _failChannel(reason) {
    if (!this._channel) return;
    this._channel.close(false);
    this._channelEnded({ code: 0, reason });
  }

  /** Forgets the current channel and what only lives while one carries the session. */
  _channelGone() {
    this._channel = null;
    this._ready = false;
    this._outbox.use(null);
    clearTimeout(this._connectTimer);
    clearInterval(this._heartbeatTimer);
    clearTimeout(this._pongTimer);
    this._connectTimer = this._heartbeatTimer = this._pongTimer = null;
  }

  _channelEnded({ code, reason, replaced, resumeNow }) {
    const kind = this._channel.kind;
    const carried = this._ready;
    const lived = carried ? Date.now() - this._readyAt : 0;
    this._channelGone();
    if (!carried && this._base !== this._home) {
      // The owner node could not be reached (or refused the page's
      // origin): resume where the session came from, at once.
      this._unreachable.add(this._base);
      this._base = this._home;
      if (this._wanted && !replaced) {
        this._emit("close", { code, reason, willReconnect: true, transport: kind });
        this._dial();
        return;
      }
    }
    if (replaced) {
      // Another channel carries the session now: stay out of its way, no bye.
      this._wanted = false;
      this._endSession(new SignalingError("replaced", "session taken over by another channel"));
      this._emit("close", { code: 4001, reason: "replaced", willReconnect: false, transport: kind });
      this._emitState("closed");
      return;
    }
    const willReconnect = this._wanted;
    this._emit("close", { code, reason, willReconnect, transport: kind });
    if (!willReconnect) {
      this._emitState("closed");
      return;
    }
    if (resumeNow && Date.now() - this._resumeNowAt > 1000) {
      this._resumeNowAt = Date.now(); // at once, but never in a tight loop
      this._dial(); // the server drains old sockets
      return;
    }
    const delay = this._redial.ended(lived, this._session !== null);
    this._emitState("reconnecting", { attempt: this._redial.attempt, delay, at: Date.now() + delay });
    this._reconnectTimer = setTimeout(() => this._redialNow(), delay);
  }

  // After fallbackAfter failed attempts the next transport gets a turn,
  // but only when the server answers plain HTTP.
  async _redialNow() {
    this._reconnectTimer = null;
    if (this._redial.wantsFallback) {
      const probe = {}; // connect() and reconnectNow() see a redial under way
      this._reconnectTimer = probe;
      const reachable = await serverReachable(this._home);
      if (this._reconnectTimer !== probe) return; // disconnect() or reconnectNow() meanwhile
      this._reconnectTimer = null;
      if (reachable) this._redial.fallback();
    }
    if (this._wanted && !this._channel) this._dial();
  }

  // Moves the session to the room's owner node: the channel detaches
  // (no bye) and a new one resumes on the owner with the last seq handled,
  // so nothing is lost or handled twice, and frames sent meanwhile wait in
  // the outbox. Media flows peer to peer and never notices.
  _follow(owner) {
    const ch = this._channel;
    if (!this.options.followOwner || !ch || !this._ready) return;
    const to = ownerOrigin(owner, this._home, ch.kind);
    if (!to || to === this._base || this._unreachable.has(to)) return;
    const from = this._base;
    this._base = to;
    this._channelGone();
    ch.close(false);
    this._emit("moving", { from, to });
    this._dial();
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _emitState(state, extra = {}) {
    this._emit("state", { state, transport: this.transport, ...extra });
  }
}
