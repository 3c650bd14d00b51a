// A call in one room: a Call (one RTCPeerConnection, perfect negotiation)
// per remote peer, on a SignalingClient. No DOM code.
//
// Roles, as in the Go client's call package: of each pair exactly one
// side is polite, the one whose session id sorts first (no extra
// signaling). The newcomer calls the peers its joined frame lists; the
// others wait for its offer, so a flood of joins costs them nothing until
// someone offers (callNewcomers: true calls them at once instead).
//
// A call whose media flows outlives signaling: when its peer's session is
// lost (peer-left with reason "lost": it could not be resumed) while the connection is
// up, the call is kept for keepAway ms (peer-away), and a peer that joins
// with the same clientTag (the same tab, as a new session) takes it over
// (peer-back) instead of starting a new one. The same when this side's
// session is new (a re-join): calls to peers still listed go on, and
// calls to peers not listed wait for them to come back. Only peers whose
// client sends a client id (a tag) are waited for. Renewed TURN
// credentials reach every call.
//
// Events (CustomEvent, payload in .detail):
//   joined      the joined frame (rejoin: true in a new session), before
//               its calls are made
//   call        {call, peer}: a Call was made, before it negotiates
//               (this side calls, or the peer's offer came): listen to it
//   track       {call, stream, track}: remote media from a call
//   peer-joined {peer}: {id, name, clientTag}
//   peer-away   {peer, call}: the peer's session ended while its call's
//               media flows: the call waits keepAway ms for it
//   peer-back   {peer, call, was}: the peer (was: its old id) came back
//               as a new session and took its call over
//   peer-left   {peer, call}: its call (if any) is closed

import { Call } from "./call.js";

export class Room extends EventTarget {
  /**
   * @param {import("./client.js").SignalingClient} signaling
   * @param {object} [o]
   * @param {MediaStream|null|(() => MediaStream|null)} [o.localStream]  what each call sends, read when it is made
   * @param {RTCConfiguration} [o.config]  for every call; iceServers come from signaling
   * @param {boolean} [o.callNewcomers]  offer to peers that join after us (default: wait for their offer)
   * @param {(o: object) => Call} [o.createCall]  makes each call (a subclass of Call)
   * @param {number} [o.keepAway]  ms a call whose media flows waits for its peer to come back (default 20000; 0: never)
   * @param {(msg: string) => void} [o.log]
   */
  constructor(signaling, o = {}) {
    super();
    this.signaling = signaling;
    this.localStream = o.localStream ?? null;
    this.config = o.config || {};
    this.callNewcomers = !!o.callNewcomers;
    this.keepAway = o.keepAway ?? 20000;
    /** @type {Map<string, {call: Call, peer: object, timer: any}>} calls waiting for their peer, by clientTag */
    this._away = new Map();
    this._createCall = o.createCall || ((opts) => new Call(opts));
    this.log = o.log || (() => {});
    /** @type {Map<string, Call>} */
    this.calls = new Map();
    /** @type {Map<string, {id: string, name: string}>} */
    this.peers = new Map();
    this._active = false; // join() called and leave() not since
    this._handlers = {
      joined: ({ detail }) => this._joined(detail),
      "peer-joined": ({ detail }) => this._peerJoined(detail.peer),
      "peer-left": ({ detail }) => this._peerLeft(detail.peer, detail.reason),
      offer: ({ detail }) => this._active && this._call(detail.from, false).handleDescription("offer", detail.sdp),
      answer: ({ detail }) => this.calls.get(detail.from)?.handleDescription("answer", detail.sdp),
      candidate: ({ detail }) => this.calls.get(detail.from)?.handleCandidate(detail.candidate),
      "ice-servers": ({ detail }) => {
        for (const call of this.calls.values()) call.setIceServers(detail.iceServers);
      },
    };
    for (const [type, h] of Object.entries(this._handlers)) signaling.addEventListener(type, h);
  }

  /**
   * Joins room as name and connects the client if it is not yet: resolves
   * with the joined frame, rejects with a SignalingError (room_full,
   * bad_room, unauthorized…). options.token: a join token.
   */
  join(room, name = "", options = {}) {
    this._active = true;
    // Join first: the channel connect() opens then carries room= (a load
    // balancer keeps the room's peers on one node).
    const joined = this.signaling.join(room, name, options);
    this.signaling.connect();
    return joined;
  }

  /** Closes every call and leaves the room; resolves with the left frame. */
  leave() {
    this._active = false;
    this._closeCalls();
    this.peers.clear();
    return this.signaling.leave();
  }

  /** Leaves, and stops listening to the client (which stays connected). */
  close() {
    const left = this.leave().catch(() => {});
    for (const [type, h] of Object.entries(this._handlers)) this.signaling.removeEventListener(type, h);
    return left;
  }

  /** Peers whose calls wait for them to come back (peer-away). */
  get away() {
    return [...this._away.values()].map((a) => a.peer);
  }

  /** The call with peer id, or undefined. */
  call(id) {
    return this.calls.get(id);
  }

  /** Sends track instead of the local track of its kind on every call (see Call.replaceTrack). */
  async replaceTrack(kind, track, stream) {
    if (stream && typeof this.localStream !== "function") this.localStream = stream;
    await Promise.all([...this.calls.values()].map((c) => c.replaceTrack(kind, track, stream)));
  }

  _joined(f) {
    if (!this._active) return;
    // A new session of ours (a re-join): calls whose media flows go on
    // with the peers still here and wait for the others.
    const listed = new Map(f.peers.map((p) => [p.id, p]));
    const self = this.signaling.sessionId || "";
    for (const [id, call] of [...this.calls]) {
      const peer = this.peers.get(id);
      this.calls.delete(id);
      if (!this._flowing(call, peer)) call.close();
      else if (listed.has(id)) {
        call.rebind(id, self < id);
        this.calls.set(id, call);
      } else this._wait(call, peer);
    }
    this.peers = listed;
    for (const p of f.peers) if (!this.calls.has(p.id)) this._back(p); // peer-back before joined
    this._emit("joined", f);
    for (const p of f.peers) if (!this.calls.has(p.id)) this._call(p.id, true);
  }

  _peerJoined(peer) {
    if (!this._active) return;
    if (this._back(peer)) return;
    this.peers.set(peer.id, peer);
    this._emit("peer-joined", { peer });
    if (this.callNewcomers) this._call(peer.id, true);
  }

  // reason "left": the peer left on purpose (a leave, a bye, its tab
  // closed), so its call ends now; otherwise its session was lost and a
  // call whose media flows waits for it.
  _peerLeft(peer, reason) {
    if (!this._active) return;
    const call = this.calls.get(peer.id);
    const known = this.peers.get(peer.id) || peer;
    this.calls.delete(peer.id);
    this.peers.delete(peer.id);
    if (reason !== "left" && this._flowing(call, known)) return this._wait(call, known);
    call?.close();
    this._emit("peer-left", { peer: known, call });
  }

  // Whether call may wait for its peer to come back as a new session.
  _flowing(call, peer) {
    return !!(call && !call.closed && this.keepAway > 0 && peer?.clientTag && call.connectionState === "connected");
  }

  _wait(call, peer) {
    const tag = peer.clientTag;
    const old = this._away.get(tag);
    if (old) this._giveUp(tag, old);
    const timer = setTimeout(() => this._giveUp(tag, this._away.get(tag)), this.keepAway);
    this._away.set(tag, { call, peer, timer });
    this._emit("peer-away", { peer, call });
  }

  _giveUp(tag, away) {
    if (!away) return;
    clearTimeout(away.timer);
    this._away.delete(tag);
    away.call.close();
    this._emit("peer-left", { peer: away.peer, call: away.call });
  }

  // peer, a session new to us, takes over the call of its tab's old one;
  // the call, or null when none waits for it.
  _back(peer) {
    const away = peer.clientTag && this._away.get(peer.clientTag);
    if (!away) return null;
    clearTimeout(away.timer);
    this._away.delete(peer.clientTag);
    const was = away.call.id;
    away.call.rebind(peer.id, (this.signaling.sessionId || "") < peer.id);
    this.calls.set(peer.id, away.call);
    this.peers.set(peer.id, peer);
    this._emit("peer-back", { peer, call: away.call, was });
    return away.call;
  }

  // The call with id, made when there is none: offering now (initiator)
  // or waiting for the offer that came.
  _call(id, initiator) {
    const existing = this.calls.get(id);
    if (existing) return existing;
    const local = typeof this.localStream === "function" ? this.localStream() : this.localStream;
    const call = this._createCall({
      id,
      polite: (this.signaling.sessionId || "") < id,
      initiator,
      signaling: this.signaling,
      config: { ...this.config, iceServers: this.signaling.iceServers },
      localStream: local,
      log: this.log,
    });
    this.calls.set(id, call);
    if (!this.peers.has(id)) this.peers.set(id, { id, name: "" });
    call.addEventListener("track", ({ detail }) => this._emit("track", { call, ...detail }));
    this._emit("call", { call, peer: this.peers.get(id) });
    return call;
  }

  _closeCalls() {
    for (const call of this.calls.values()) call.close();
    this.calls.clear();
    for (const [tag, away] of [...this._away]) {
      clearTimeout(away.timer);
      this._away.delete(tag);
      away.call.close();
    }
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
