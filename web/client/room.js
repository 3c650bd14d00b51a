// A call in one room: a Call (one RTCPeerConnection, perfect negotiation)
// per remote peer, on a SignalingClient. No DOM code.
//
// Roles, as in the Go client's call package: of each pair exactly one
// side is polite, the one whose session id sorts first (no extra
// signaling). The newcomer calls the peers its joined frame lists; the
// others wait for its offer, so a flood of joins costs them nothing until
// someone offers (callNewcomers: true calls them at once instead). A new
// session (the old one could not be resumed) re-joins, and every call
// starts over: the other side's connection to the old session is gone.
// Renewed TURN credentials reach every call.
//
// Events (CustomEvent, payload in .detail):
//   joined      the joined frame (rejoin: true in a new session), before
//               its calls are made
//   call        {call, peer}: a Call was made, before it negotiates
//               (this side calls, or the peer's offer came): listen to it
//   track       {call, stream, track}: remote media from a call
//   peer-joined {peer}: {id, name}
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
   * @param {(msg: string) => void} [o.log]
   */
  constructor(signaling, o = {}) {
    super();
    this.signaling = signaling;
    this.localStream = o.localStream ?? null;
    this.config = o.config || {};
    this.callNewcomers = !!o.callNewcomers;
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
      "peer-left": ({ detail }) => this._peerLeft(detail.peer),
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
    this._closeCalls();
    this.peers = new Map(f.peers.map((p) => [p.id, p]));
    this._emit("joined", f);
    for (const p of f.peers) this._call(p.id, true);
  }

  _peerJoined(peer) {
    if (!this._active) return;
    this.peers.set(peer.id, peer);
    this._emit("peer-joined", { peer });
    if (this.callNewcomers) this._call(peer.id, true);
  }

  _peerLeft(peer) {
    if (!this._active) return;
    const call = this.calls.get(peer.id);
    this.calls.delete(peer.id);
    this.peers.delete(peer.id);
    call?.close();
    this._emit("peer-left", { peer, call });
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
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
