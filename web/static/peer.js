// One RTCPeerConnection to one remote peer, negotiated with the "perfect
// negotiation" pattern (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example):
// either side may start (re)negotiating at any time; when both offer at
// once, the impolite side's offer wins and the polite side rolls back. No
// DOM code here.
//
// Events (CustomEvent, payload in .detail):
//   track   {stream}                        remote media arrived
//   state   {connectionState, iceConnectionState, signalingState}
//   stats   {localCandidateType, remoteCandidateType, relayProtocol, rtt}
//   details the same plus protocol, inKbps, outKbps, lost, received: every poll
//
// What went wrong, when it does, is kept for health.js: iceErrors (the
// browser's icecandidateerror events: which STUN/TURN URL failed and how),
// gathered (local candidate types seen), relays (our relay candidates:
// address, port and the TURN URL they came from), remoteGathered (the
// candidate types the other side sent) and answered (a remote description
// was applied: the other side is talking to us).

const STATS_INTERVAL = 2000; // ms

export class Peer extends EventTarget {
  /**
   * @param {object} o
   * @param {string} o.id           remote session id
   * @param {boolean} o.polite      true on exactly one of the two sides
   * @param {boolean} o.initiator   add local media now (and so offer); otherwise wait for an offer
   * @param {object} o.signaling    a SignalingClient
   * @param {RTCConfiguration} o.config
   * @param {MediaStream|null} o.localStream
   * @param {(msg: string) => void} [o.log]
   */
  constructor({ id, polite, initiator, signaling, config, localStream, log }) {
    super();
    this.id = id;
    this.polite = polite;
    this.signaling = signaling;
    this.localStream = localStream;
    this.log = log || (() => {});
    this.remoteStream = new MediaStream();
    this.stats = { localCandidateType: null, remoteCandidateType: null, relayProtocol: null, rtt: null };
    this.closed = false;
    this.iceErrors = []; // {url, code, text}, the first few
    this.gathered = new Set(); // "host", "srflx", "relay"
    this.relays = []; // {address, port, url}, the first few
    this.relayProtocols = new Set(); // "udp", "tcp", "tls": our relay candidates' allocations
    this.remoteGathered = new Set();
    this.answered = false;
    this.startedAt = Date.now();

    this._makingOffer = false;
    this._ignoreOffer = false;
    this._answerPending = false;
    this._mediaAttached = false;
    this._statsTimer = null;
    this._udpRetried = false; // gathered again for a missing TURN/UDP allocation

    this.pc = new RTCPeerConnection(config);
    this._wire();
    if (initiator) this._attachMedia(true);
  }

  get connectionState() {
    return this.pc.connectionState;
  }

  /** Applies a remote offer or answer. */
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

  /** Adds a remote candidate; null means end of candidates. */
  async handleCandidate(candidate) {
    if (this.closed) return;
    const type = candidate && / typ (\w+)/.exec(candidate.candidate || "");
    if (type) this.remoteGathered.add(type[1]);
    try {
      await this.pc.addIceCandidate(candidate || undefined);
    } catch (err) {
      // Candidates of an offer we ignored are expected to fail.
      if (!this._ignoreOffer) this.log(`candidate from ${this.id} rejected: ${err}`);
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
    if (this.stats.localCandidateType === "relay") this.pc.restartIce();
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
    clearInterval(this._statsTimer);
    this.pc.close();
  }

  // --- internals ---

  _config() {
    const c = this.pc.getConfiguration();
    return { iceTransportPolicy: c.iceTransportPolicy, bundlePolicy: c.bundlePolicy };
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
      if (candidate && candidate.type) this.gathered.add(candidate.type);
      if (candidate && candidate.type === "relay" && this.relays.length < 4) this.relays.push({ address: candidate.address, port: candidate.port, url: url || "" });
      if (candidate && candidate.type === "relay" && candidate.relayProtocol) this.relayProtocols.add(candidate.relayProtocol);
      this.signaling.candidate(this.id, candidate ? candidate.toJSON() : null);
    };
    pc.onicecandidateerror = (ev) => {
      if (this.iceErrors.length >= 8) return;
      this.iceErrors.push({ url: ev.url || "", code: ev.errorCode, text: ev.errorText || "" });
      this.log(`ICE server ${ev.url} failed for ${this.id}: ${ev.errorCode} ${ev.errorText || ""}`);
    };
    pc.ontrack = ({ track }) => {
      // Collect tracks in our own stream: the remote side may send tracks
      // without a stream (receive-only transceivers, replaceTrack).
      if (!this.remoteStream.getTracks().includes(track)) this.remoteStream.addTrack(track);
      track.onunmute = () => this._emit("track", { stream: this.remoteStream });
      this._emit("track", { stream: this.remoteStream });
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
      if (pc.connectionState === "connected") {
        this._pollStats();
      } else if (pc.connectionState === "failed") {
        // Both sides may restart at once; perfect negotiation sorts it out.
        this.log(`connection to ${this.id} failed; restarting ICE`);
        pc.restartIce();
      }
    };
    pc.oniceconnectionstatechange = changed;
    pc.onsignalingstatechange = changed;
    pc.onicegatheringstatechange = changed;
  }

  // A call that relays over TURN/TCP while we never got a TURN/UDP
  // allocation gathers once more: Chromium drops the Allocate its UDP
  // TURN port sends before the port's socket is open ("Failed to send
  // TURN message, error: 11") and does not retry it, so a busy browser
  // settled on TCP where UDP works (issue 20). A UDP relay that does get
  // through wins on priority; where UDP is blocked this costs one more
  // gathering, once.
  _retryUdpRelay(next) {
    if (this._udpRetried || next.localCandidateType !== "relay" || next.relayProtocol !== "tcp" || this.relayProtocols.has("udp")) return;
    const urls = (this.pc.getConfiguration().iceServers || []).flatMap((s) => [].concat(s.urls || []));
    if (!urls.some((u) => u.startsWith("turn:") && !u.includes("transport=tcp"))) return;
    this._udpRetried = true;
    this.log(`relaying to ${this.id} over TURN/TCP without a TURN/UDP allocation; gathering again`);
    this.pc.restartIce();
  }

  _pollStats() {
    if (this._statsTimer) return;
    const poll = () => this._readStats().catch(() => {});
    poll();
    this._statsTimer = setInterval(poll, STATS_INTERVAL);
  }

  // Reports what the selected candidate pair is made of: "relay" on the
  // local side means our media goes through the TURN server.
  async _readStats() {
    if (this.closed) return;
    const report = await this.pc.getStats();
    let pair = null;
    report.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
    });
    if (!pair) {
      report.forEach((s) => {
        if (!pair && s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
      });
    }
    if (!pair) return;
    const local = report.get(pair.localCandidateId);
    const remote = report.get(pair.remoteCandidateId);
    const next = {
      localCandidateType: local ? local.candidateType : null,
      remoteCandidateType: remote ? remote.candidateType : null,
      relayProtocol: local && local.relayProtocol ? local.relayProtocol : null,
      rtt: typeof pair.currentRoundTripTime === "number" ? pair.currentRoundTripTime : null,
    };
    const changed = Object.keys(next).some((k) => next[k] !== this.stats[k]);
    this.stats = next;
    if (changed) this._emit("stats", next);
    this._retryUdpRelay(next);
    // For the stats overlay: bitrates from byte counters between polls.
    let bytesIn = 0, bytesOut = 0, lost = 0, received = 0;
    report.forEach((s) => {
      if (s.type === "inbound-rtp") {
        bytesIn += s.bytesReceived || 0;
        lost += s.packetsLost || 0;
        received += s.packetsReceived || 0;
      } else if (s.type === "outbound-rtp") bytesOut += s.bytesSent || 0;
    });
    const now = performance.now();
    const prev = this._bytes;
    const kbps = (a, b) => (prev ? Math.max(0, Math.round(((a - b) * 8) / (now - prev.at))) : null);
    this._bytes = { at: now, in: bytesIn, out: bytesOut };
    this.details = { ...next, protocol: local ? local.protocol : null, inKbps: kbps(bytesIn, prev?.in), outKbps: kbps(bytesOut, prev?.out), lost, received };
    this._emit("details", this.details);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
