// One RTCPeerConnection to one remote peer, negotiated with the "perfect
// negotiation" pattern (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example):
// either side may start (re)negotiating at any time; when both offer at
// once (glare), the impolite side's offer wins and the polite side rolls
// back. A connection that fails, or stays disconnected for 2 s (a NAT
// that forgot its mapping, a new network), restarts ICE, again every 6 s
// until it is back; renewed TURN credentials
// restart it when it relays. No DOM code.
//
// Events (CustomEvent, payload in .detail):
//   track   {stream, track}   remote media arrived (or unmuted); stream
//                             collects every remote track of the call
//   state   {connectionState, iceConnectionState, signalingState}
//   close   {}                the call was closed
//
// Subclasses (the demo's Peer) see more through _gathered(candidate, url),
// _iceError(ev), _remoteCandidate(candidate) and _connected().

// How long a connection may stay "disconnected" before ICE restarts
// (Chromium says "failed" only after about 30 s), and how long a restart
// may take before the next one.
const DISCONNECTED_GRACE = 2000; // ms
const RESTART_RETRY = 6000; // ms

export class Call extends EventTarget {
  /**
   * @param {object} o
   * @param {string} o.id           remote session id
   * @param {boolean} o.polite      true on exactly one of the two sides
   * @param {boolean} o.initiator   add local media now (and so offer); otherwise wait for an offer
   * @param {object} o.signaling    a SignalingClient
   * @param {RTCConfiguration} o.config
   * @param {MediaStream|null} [o.localStream]
   * @param {(msg: string) => void} [o.log]
   */
  constructor({ id, polite, initiator, signaling, config, localStream = null, log }) {
    super();
    this.id = id;
    this.polite = polite;
    this.signaling = signaling;
    this.localStream = localStream;
    this.log = log || (() => {});
    this.remoteStream = new MediaStream();
    this.closed = false;
    this.answered = false; // a remote description was applied: the other side is talking to us

    this._makingOffer = false;
    this._ignoreOffer = false;
    this._answerPending = false;
    this._mediaAttached = false;

    this.pc = new RTCPeerConnection(config);
    this._wire();
    if (initiator) this._attachMedia(true);
  }

  get connectionState() {
    return this.pc.connectionState;
  }

  /** Applies a remote offer or answer (an offer or answer frame's sdp). */
  async handleDescription(type, sdp) {
    if (this.closed) return;
    const pc = this.pc;
    try {
      // An offer collides when we are making one ourselves or are not
      // stable (unless only our answer is being applied).
      const readyForOffer = !this._makingOffer && (pc.signalingState === "stable" || this._answerPending);
      const collision = type === "offer" && !readyForOffer;
      this._ignoreOffer = !this.polite && collision;
      if (this._ignoreOffer) {
        this.log(`ignoring colliding offer from ${this.id}`);
        return;
      }
      this._answerPending = type === "answer";
      await pc.setRemoteDescription({ type, sdp }); // rolls back our offer if needed
      this._answerPending = false;
      this.answered = true;
      if (type === "offer") {
        this._attachMedia(false);
        await pc.setLocalDescription();
        this.signaling.answer(this.id, pc.localDescription.sdp);
      }
    } catch (err) {
      this.log(`negotiation with ${this.id} failed: ${err}`);
    }
  }

  /** Adds a remote candidate (a candidate frame's); null means end of candidates. */
  async handleCandidate(candidate) {
    if (this.closed) return;
    this._remoteCandidate(candidate);
    const ignoring = this._ignoreOffer; // an answer may end it before the rejection comes
    try {
      await this.pc.addIceCandidate(candidate || undefined);
    } catch (err) {
      // Candidates of an offer we ignored are expected to fail.
      if (!ignoring && !this._ignoreOffer) this.log(`candidate from ${this.id} rejected: ${err}`);
    }
  }

  /**
   * Installs renewed TURN credentials. Existing allocations keep their old
   * credentials until ICE restarts, so restart when we are relaying.
   */
  setIceServers(iceServers) {
    if (this.closed) return;
    try {
      this.pc.setConfiguration({ ...this._config(), iceServers });
    } catch (err) {
      this.log(`setConfiguration failed: ${err}`);
      return;
    }
    Promise.resolve(this._relaying()).then((relaying) => relaying && !this.closed && this.pc.restartIce(), () => {});
  }

  /**
   * The peer came back as a new session (id), or this side did: the call
   * goes on with it, with roles as the new ids give them. A connection
   * that is not up restarts ICE.
   */
  rebind(id, polite) {
    this.id = id;
    this.polite = polite;
    if (this.pc.connectionState !== "connected") this.restartIce();
  }

  /** Renegotiates with new ICE credentials: a network change, a relay to drop. */
  restartIce() {
    if (!this.closed) this.pc.restartIce();
  }

  /**
   * Sends track instead of the local track of its kind, without
   * renegotiating (a camera allowed after a retry, a screen share).
   */
  async replaceTrack(kind, track, stream) {
    if (stream) this.localStream = stream;
    if (this.closed || !this._mediaAttached) return;
    const t = this.pc.getTransceivers().find((t) => !t.stopped && (t.sender.track?.kind || t.receiver.track.kind) === kind);
    if (!t) return;
    if (t.direction === "recvonly") t.direction = "sendrecv"; // renegotiates: it sent nothing before
    await t.sender.replaceTrack(track);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this._restartTimer);
    this.pc.close();
    this._emit("close", {});
  }

  // --- internals ---

  _config() {
    const c = this.pc.getConfiguration();
    return { iceTransportPolicy: c.iceTransportPolicy, bundlePolicy: c.bundlePolicy };
  }

  // Whether our side of the selected candidate pair is a TURN relay (a
  // boolean, or a promise of one: subclasses that poll stats know at once).
  async _relaying() {
    const report = await this.pc.getStats();
    let relay = false;
    report.forEach((s) => {
      if (s.type !== "transport" || !s.selectedCandidatePairId) return;
      const pair = report.get(s.selectedCandidatePairId);
      const local = pair && report.get(pair.localCandidateId);
      if (local && local.candidateType === "relay") relay = true;
    });
    return relay;
  }

  // Sends local tracks. The side that offers adds receive-only transceivers
  // for kinds it has no track of, so it still receives them; the answering
  // side attaches after applying the offer so its tracks reuse the offered
  // transceivers instead of adding new m-lines.
  _attachMedia(offering) {
    if (this._mediaAttached) return;
    this._mediaAttached = true;
    const stream = this.localStream;
    for (const kind of ["audio", "video"]) {
      const track = stream && stream.getTracks().find((t) => t.kind === kind);
      if (track) this.pc.addTrack(track, stream);
      else if (offering) this.pc.addTransceiver(kind, { direction: "recvonly" });
    }
  }

  _wire() {
    const pc = this.pc;
    pc.onnegotiationneeded = async () => {
      try {
        this._makingOffer = true;
        await pc.setLocalDescription();
        this.signaling.offer(this.id, pc.localDescription.sdp);
      } catch (err) {
        this.log(`offer to ${this.id} failed: ${err}`);
      } finally {
        this._makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate, url }) => {
      if (candidate) this._gathered(candidate, url);
      this.signaling.candidate(this.id, candidate ? candidate.toJSON() : null);
    };
    pc.onicecandidateerror = (ev) => this._iceError(ev);
    pc.ontrack = ({ track }) => {
      // Collect tracks in our own stream: the remote side may send tracks
      // without a stream (receive-only transceivers, replaceTrack).
      if (!this.remoteStream.getTracks().includes(track)) this.remoteStream.addTrack(track);
      track.onunmute = () => this._emit("track", { stream: this.remoteStream, track });
      this._emit("track", { stream: this.remoteStream, track });
    };
    const changed = () => {
      this._emit("state", {
        connectionState: pc.connectionState,
        iceConnectionState: pc.iceConnectionState,
        signalingState: pc.signalingState,
      });
    };
    pc.onconnectionstatechange = () => {
      changed();
      const s = pc.connectionState;
      if (s === "connected") {
        clearTimeout(this._restartTimer);
        this._restartTimer = null;
        this._connected();
      } else if ((s === "disconnected" || s === "failed") && !this._restartTimer) {
        // A NAT that forgot its mapping, or a new network: the path is
        // gone, and Chromium says "failed" only some 30 s later. A blip
        // recovers within the grace; past it, ICE restarts.
        this._scheduleRestart(s === "failed" ? 0 : DISCONNECTED_GRACE);
      }
    };
    pc.oniceconnectionstatechange = changed;
    pc.onsignalingstatechange = changed;
    pc.onicegatheringstatechange = changed;
  }

  // Restarts ICE after delay unless connected by then, and again every
  // RESTART_RETRY until connected: a restart's offer may find the other
  // side's network gone too. Both sides may restart at once; perfect
  // negotiation sorts it out.
  _scheduleRestart(delay, again = false) {
    this._restartTimer = setTimeout(() => {
      const pc = this.pc;
      if (this.closed || pc.connectionState === "connected") {
        this._restartTimer = null;
        return;
      }
      this.log(`connection to ${this.id} ${pc.connectionState}; restarting ICE`);
      if (again && pc.signalingState === "have-local-offer") {
        // Our last offer got no answer in RESTART_RETRY: take it back, or
        // the other side, seeing a collision, keeps ignoring its own.
        pc.setLocalDescription({ type: "rollback" })
          .catch((err) => this.log(`rollback failed: ${err}`))
          .finally(() => !this.closed && pc.restartIce());
      } else {
        pc.restartIce();
      }
      this._scheduleRestart(RESTART_RETRY, true);
    }, delay);
  }

  // Hooks for subclasses.
  _gathered(_candidate, _url) {}
  _iceError(_ev) {}
  _remoteCandidate(_candidate) {}
  _connected() {}

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
