// Keeping a signaling session carried by a channel, for client.js, which
// builds the protocol on it: which channel to open and where, the backoff
// and fallback after one ends, moving back to the preferred channel, and
// moving to a room's owner node. No DOM code.
//
// Only evidence against a channel makes the client fall back to the next
// one: an attempt that failed while the server answered plain HTTP. A
// channel the server ended saying why (a close code, an error notice) and
// a failure while the server did not answer (a restart refusing
// connections for a moment, a proxy's 502) never count. After a fallback
// the client probes the preferred channel (WebSocket) now and then, and
// when one opens it resumes the session there and drops the other.
//
// In a cluster (docs/cluster.md) every channel's URL carries room= once the
// room is known, so a load balancer hashing on it keeps a room's peers on
// one node; a joined frame naming the room's owner node moves the session
// there by resuming it (ownerOrigin in channels.js says which owners may be
// followed).
//
// The subclass provides what channels report to: _onFrame(f),
// _resumed(notice), _endSession(err), and _session, _lastSeq, _room,
// _target, _outbox; it calls _carried() when a channel takes the session
// up (welcome or resumed).

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
    this._climbTimer = null; // the next probe of the preferred transport
    this._climb = null; // the probe under way: {ch, from, timeout, handoff}
    this._probed = null; // the channel a probe last tried to take the session from
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

  // What a channel reports to once it is the one in use (_channel).
  _hooks(owner) {
    return {
      cursor: () => ({ token: this._session ? this._session.token : null, after: this._ackSeq() }),
      frame: (f) => this._channel === owner.ch && this._onFrame(f),
      ready: () => this._channel === owner.ch && !this._ready && this._session && this._resumed(null),
      end: (info) => this._channel === owner.ch && this._channelEnded(info),
      probing: () => this._climb !== null && this._channel === owner.ch,
    };
  }

  /**
   * The last seq the server may forget (a channel's after, a POST's
   * Last-Event-ID). While a probe resumes from climb.after, nothing later:
   * an ack past it reaching the server first would leave the probe asking
   * for events no longer kept, and the server would end the session.
   */
  _ackSeq() {
    return this._climb ? Math.min(this._lastSeq, this._climb.after) : this._lastSeq;
  }

  _openChannel(kind, hooks) {
    const room = this._room || (this._target && this._target.room) || null;
    return openChannel(kind, this._base, hooks, { ...this.options, room });
  }

  _dial() {
    this._reconnectTimer = null;
    const owner = { ch: null };
    this._emitState("connecting", { attempt: this._redial.attempt });
    let ch;
    try {
      ch = owner.ch = this._openChannel(this._redial.kind, this._hooks(owner));
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

  /**
   * Forgets the current channel and what only lives while one carries the
   * session, a probe of the preferred transport too unless keepClimb.
   */
  _channelGone(keepClimb = false) {
    if (!keepClimb) this._stopClimb();
    this._channel = null;
    this._ready = false;
    this._outbox.use(null);
    clearTimeout(this._connectTimer);
    clearInterval(this._heartbeatTimer);
    clearTimeout(this._pongTimer);
    this._connectTimer = this._heartbeatTimer = this._pongTimer = null;
  }

  _channelEnded({ code, reason, replaced, resumeNow, server }) {
    const ended = this._channel;
    const kind = ended.kind;
    const carried = this._ready;
    const lived = carried ? Date.now() - this._readyAt : 0;
    if (this._climb) {
      // Replaced by the probe, or ended instead of reattaching by itself
      // (probing): the probe decides where the session goes on.
      this._channelGone(true);
      this._climb.handoff = true;
      return;
    }
    if (replaced && this._probed === ended) {
      replaced = false; // by a probe that gave up since: resume here
      resumeNow = true;
    }
    this._channelGone();
    this._redial.restarted(); // the way to the server may have changed
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
    // An end the server did not explain is evidence against the channel
    // only if the server answers plain HTTP now: asked at once, while the
    // backoff runs, so that a restart's refused connections count for
    // nothing even when the next process answers by the time of the retry.
    const evidence = server ? null : serverReachable(this._home);
    this._emitState("reconnecting", { attempt: this._redial.attempt, delay, at: Date.now() + delay });
    this._reconnectTimer = setTimeout(() => this._redialNow(evidence), delay);
  }

  // After fallbackAfter attempts in a row failed while the server
  // answered, the next transport gets a turn.
  async _redialNow(evidence) {
    this._reconnectTimer = null;
    if (evidence) {
      const wait = {}; // connect() and reconnectNow() see a redial under way
      this._reconnectTimer = wait;
      const answered = await evidence;
      if (this._reconnectTimer !== wait) return; // disconnect() or reconnectNow() meanwhile
      this._reconnectTimer = null;
      if (answered) this._redial.failed();
      if (this._redial.wantsFallback) {
        const from = this._redial.kind;
        this._redial.fallback();
        this._emit("transport", { from, to: this._redial.kind, reason: "fallback" });
      }
    }
    if (this._wanted && !this._channel) this._dial();
  }

  // A channel took the session up: it works. If it is not the preferred
  // one, that one is probed later.
  _carried() {
    this._redial.carried();
    this._climbLater();
  }

  _climbLater() {
    clearTimeout(this._climbTimer);
    this._climbTimer = null;
    if (!this._redial.preferred || !this._ready || this._climb) return;
    this._climbTimer = setTimeout(() => this._climbNow(), this._redial.climbDelay());
  }

  // Probes the preferred transport by resuming the session on it while
  // the current channel carries on (the owner move's way: the token and
  // the last seq handled). When the probe says resumed, it is the channel
  // and the old one is closed without a bye; the server has replaced it
  // already. Meanwhile the old channel acknowledges nothing past the
  // probe's after and does not reattach by itself (an event stream's
  // reconnect, the next poll): it ends instead and hands the session over
  // to the probe, as when it hears "replaced" first. Events the old
  // channel still delivered meanwhile come again in the probe's replay and
  // are skipped by seq; frames going up wait in the outbox. A probe that
  // fails changes nothing (after a hand-over: the old kind resumes at once).
  _climbNow() {
    this._climbTimer = null;
    const kind = this._redial.preferred;
    const from = this._channel;
    if (!kind || !from || !this._ready || !this._session || this._climb) return;
    const climb = { ch: null, from: from.kind, after: this._lastSeq, timeout: null, handoff: false, held: null };
    const hooks = this._hooks(climb);
    const frame = hooks.frame;
    const end = hooks.end;
    hooks.frame = (f) => (this._channel === climb.ch ? frame(f) : this._climbFrame(climb, f));
    hooks.end = (info) => (this._channel === climb.ch ? end(info) : this._climbFailed(climb));
    this._climb = climb; // from now on acks stop at climb.after
    try {
      climb.ch = this._openChannel(kind, hooks);
    } catch {
      this._climb = null;
      return; // e.g. no WebSocket constructor here: stay
    }
    this._probed = from;
    climb.timeout = setTimeout(() => this._climbFailed(climb), this.options.connectTimeout);
  }

  // The probe's first frame: resumed (it carries the session now) or
  // resume_failed (the session is gone on every channel; the new one's
  // welcome follows on the probe). Anything else is a failure. The frames
  // wait (held) while a POST of the old channel is in flight: frames sent
  // on the probe before it is answered could overtake it.
  _climbFrame(climb, f) {
    if (this._climb !== climb) return;
    if (climb.held) {
      climb.held.push(f);
      return;
    }
    const resumed = f.type === "resumed" && this._session && f.session === this._session.id;
    if (!resumed && !(f.type === "error" && f.code === "resume_failed")) {
      this._climbFailed(climb);
      return;
    }
    climb.held = [f];
    this._climbWhenSent(climb);
  }

  _climbWhenSent(climb) {
    if (this._climb !== climb) return;
    // Outbox's own field, read not written: one POST at a time keeps order.
    if (this._outbox._posting) {
      setTimeout(() => this._climbWhenSent(climb), 10); // bounded by climb.timeout
      return;
    }
    const old = this._channel;
    clearTimeout(climb.timeout);
    this._climb = null;
    this._probed = null;
    if (old) {
      this._channelGone();
      old.close(false); // no bye: the session lives on, on the probe
    }
    this._channel = climb.ch;
    this._redial.climbed();
    this._emit("transport", { from: climb.from, to: climb.ch.kind, reason: "climb" });
    for (const f of climb.held) if (this._channel === climb.ch) this._onFrame(f);
  }

  _climbFailed(climb) {
    if (this._climb !== climb) return;
    this._climb = null;
    clearTimeout(climb.timeout);
    climb.ch.close(false);
    if (climb.handoff) {
      // The old channel gave the session to the probe: take it back.
      if (this._wanted && !this._channel) this._dial();
      return;
    }
    this._climbLater();
  }

  _stopClimb() {
    clearTimeout(this._climbTimer);
    this._climbTimer = null;
    const climb = this._climb;
    if (!climb) return;
    this._climb = null;
    clearTimeout(climb.timeout);
    climb.ch.close(false);
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
