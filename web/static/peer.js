// The demo's call with one remote peer: a Call (the client's perfect
// negotiation, ../client/call.js) that also reads what its connection is
// made of and keeps what went wrong. No DOM code.
//
// Events (CustomEvent, payload in .detail), besides Call's track and state:
//   stats   {localCandidateType, remoteCandidateType, relayProtocol, rtt}
//   details the same plus protocol, inKbps, outKbps, lost, received: every poll
//
// What went wrong, when it does, is kept for health.js: iceErrors (the
// browser's icecandidateerror events: which STUN/TURN URL failed and how),
// gathered (local candidate types seen), relays (our relay candidates:
// address, port and the TURN URL they came from), remoteGathered (the
// candidate types the other side sent) and answered (a remote description
// was applied: the other side is talking to us).

import { Call } from "/client/v1/index.js";

const STATS_INTERVAL = 2000; // ms
const UDP_RELAY_RETRIES = 3;

export class Peer extends Call {
  /** @param {object} o  Call's options */
  constructor(o) {
    super(o);
    this.stats = { localCandidateType: null, remoteCandidateType: null, relayProtocol: null, rtt: null };
    this.iceErrors = []; // {url, code, text}, the first few
    this.gathered = new Set(); // "host", "srflx", "relay"
    this.relays = []; // {address, port, url}, the first few
    this.relayProtocols = new Set(); // "udp", "tcp", "tls": our relay candidates' allocations
    this.remoteGathered = new Set();
    this.startedAt = Date.now();
    this._statsTimer = null;
    this._udpRetries = 0; // gatherings again for a missing TURN/UDP allocation
  }

  close() {
    clearInterval(this._statsTimer);
    super.close();
  }

  _relaying() {
    return this.stats.localCandidateType === "relay";
  }

  _gathered(candidate, url) {
    if (candidate.type) this.gathered.add(candidate.type);
    if (candidate.type === "relay" && this.relays.length < 4) this.relays.push({ address: candidate.address, port: candidate.port, url: url || "" });
    if (candidate.type === "relay" && candidate.relayProtocol) this.relayProtocols.add(candidate.relayProtocol);
  }

  _iceError(ev) {
    if (this.iceErrors.length >= 8) return;
    this.iceErrors.push({ url: ev.url || "", code: ev.errorCode, text: ev.errorText || "" });
    this.log(`ICE server ${ev.url} failed for ${this.id}: ${ev.errorCode} ${ev.errorText || ""}`);
  }

  _remoteCandidate(candidate) {
    const type = candidate && / typ (\w+)/.exec(candidate.candidate || "");
    if (type) this.remoteGathered.add(type[1]);
  }

  _connected() {
    this._pollStats();
  }

  // A call that relays over TURN/TCP while we never got a TURN/UDP
  // allocation gathers once more: Chromium drops the Allocate its UDP
  // TURN port sends before the port's socket is open ("Failed to send
  // TURN message, error: 11") and does not retry it, so a busy browser
  // settled on TCP where UDP works (issue 20). A UDP relay that does get
  // through wins on priority; where UDP is blocked this costs a few more
  // gatherings (at most UDP_RELAY_RETRIES, one per stats poll at most: a
  // loaded machine dropped the second Allocate too).
  _retryUdpRelay(next) {
    if (this._udpRetries >= UDP_RELAY_RETRIES || next.localCandidateType !== "relay" || next.relayProtocol !== "tcp" || this.relayProtocols.has("udp")) return;
    const urls = (this.pc.getConfiguration().iceServers || []).flatMap((s) => [].concat(s.urls || []));
    if (!urls.some((u) => u.startsWith("turn:") && !u.includes("transport=tcp"))) return;
    this._udpRetries++;
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
}
