// The remote peers of a call: one tile each, and one Peer (an
// RTCPeerConnection) once either side offers. A connection that is not up
// within CONNECT_BOUND says on its tile what failed (health.js).

import { CONNECT_BOUND, diagnose } from "./health.js";
import { setTileStatus, setTileProblem, renderPeerStatus, renderStats, attachStream } from "./tiles.js";
import { displayName } from "./util.js";

const SPEAKER_POLL = 250; // ms between audio level reads
export const SPEAKER_LEVEL = 0.02; // audioLevel (0..1, linear) that counts as speaking
export const SPEAKER_HOLD = 1500; // ms the indicator stays after the voice stops

export class Roster {
  /**
   * @param {object} o
   * @param {HTMLElement} o.tiles        the stage
   * @param {(o: object) => HTMLElement} o.createTile
   * @param {() => void} o.layout        call when tiles come and go
   * @param {import("../client/client.js").SignalingClient} o.signaling
   * @param {object} o.state             window.switchboard: state.peers mirrors each peer
   * @param {boolean} o.relayOnly        ?relay=1
   * @param {(...args) => void} o.log
   */
  constructor(o) {
    this.o = o;
    this.entries = new Map(); // id -> {peer: Peer|null, tile, info, late, bound, problem}
    this._speaker = { id: null, at: 0 };
    this._speakerTimer = null;
    this._polling = false; // a poll of the audio levels is under way
  }

  // The active speaker: the loudest remote voice over the last poll
  // interval. Each receiver's audio energy (inbound-rtp totalAudioEnergy,
  // the sum of level² × seconds) since the last poll gives the interval's
  // RMS level: a short sound between two polls counts. The level of the
  // last packet alone (getSynchronizationSources) missed Chromium's fake
  // microphone, a 20 ms beep every 500 ms, for as long as the poll stayed
  // in phase with it (issue 20, TestBrowserLayout). That level is the
  // fallback for a browser without the energy counter.
  async _pollSpeakers() {
    if (this._polling) return;
    this._polling = true;
    try {
      const levels = await Promise.all([...this.entries].map(async ([id, e]) => [id, await this._level(e)]));
      let loudest = null;
      let level = SPEAKER_LEVEL;
      for (const [id, l] of levels) {
        if (l > level && this.entries.has(id)) {
          level = l;
          loudest = id;
        }
      }
      // For a failing test's dump: the levels the last poll saw.
      this.o.state.audioLevels = Object.fromEntries(levels.map(([id, l]) => [id, Math.round(l * 1000) / 1000]));
      const now = Date.now();
      if (loudest) this._speaker = { id: loudest, at: now };
      else if (now - this._speaker.at > SPEAKER_HOLD) this._speaker = { id: null, at: 0 };
      const id = this._speaker.id;
      if (this.o.state.activeSpeaker !== id) this.o.state.activeSpeaker = id;
      for (const [eid, e] of this.entries) e.tile.classList.toggle("speaking", eid === id);
    } finally {
      this._polling = false;
    }
  }

  // A peer's audio level (0..1, linear) since the last poll: 0 without audio.
  async _level(e) {
    const r = e.peer?.pc.getReceivers().find((r) => r.track?.kind === "audio");
    if (!r) return 0;
    let energy = null;
    try {
      (await r.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp" && typeof s.totalAudioEnergy === "number") energy = s;
      });
    } catch {
      // a closed connection: no level
    }
    if (energy) {
      const last = e.energy;
      e.energy = { total: energy.totalAudioEnergy, duration: energy.totalSamplesDuration };
      const d = last ? e.energy.duration - last.duration : 0;
      return d > 0 ? Math.sqrt(Math.max(0, e.energy.total - last.total) / d) : 0;
    }
    const src = r.getSynchronizationSources?.()[0];
    // timestamp is wall-clock in Chrome, performance.now() time in older
    // Firefox: recent in either reading.
    const age = src ? Math.min(Math.abs(Date.now() - src.timestamp), Math.abs(performance.now() - src.timestamp)) : Infinity;
    return src && age < 1000 ? src.audioLevel || 0 : 0;
  }

  get(id) {
    return this.entries.get(id);
  }

  get size() {
    return this.entries.size;
  }

  // A peer that joins gets a tile at once but a connection only when it
  // offers (or when we are the one to call): a join/leave flood then costs
  // the page a few DOM nodes, not a burst of RTCPeerConnections. The Room
  // makes the calls (Peer, through its createCall) and hands each to
  // attach().
  add(info, initiator) {
    if (this.entries.has(info.id)) return this.entries.get(info.id);
    const tile = this.o.createTile({ name: displayName(info.name, info.id), local: false });
    tile.dataset.peer = info.id;
    setTileStatus(tile, "new", initiator ? "Calling…" : "Waiting…");
    this.o.tiles.append(tile);
    const entry = { peer: null, tile, info, late: false, bound: 0, problem: null };
    this.entries.set(info.id, entry);
    // Past the bound, a connection that is not up says why on its tile.
    entry.bound = setTimeout(() => {
      entry.late = true;
      this._check(entry);
    }, CONNECT_BOUND);
    if (!this._speakerTimer) this._speakerTimer = setInterval(() => this._pollSpeakers(), SPEAKER_POLL);
    this.o.layout();
    return entry;
  }

  remove(id) {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.peer?.close();
    clearTimeout(entry.bound);
    entry.tile.remove();
    this.entries.delete(id);
    delete this.o.state.peers[id];
    if (this.entries.size === 0) {
      clearInterval(this._speakerTimer);
      this._speakerTimer = null;
      this.o.state.activeSpeaker = null;
    }
    this.o.layout();
  }

  clear() {
    for (const id of [...this.entries.keys()]) this.remove(id);
  }

  /** The peer with id was came back as info.id (a new session of its tab): its tile and call go on. */
  rekey(was, info) {
    const entry = this.entries.get(was);
    if (!entry) return this.add(info, false);
    this.entries.delete(was);
    entry.info = info;
    entry.tile.dataset.peer = info.id;
    this.entries.set(info.id, entry);
    const ps = this.o.state.peers[was];
    delete this.o.state.peers[was];
    if (ps) this.o.state.peers[info.id] = ps;
    return entry;
  }

  /** Shows call (a Peer the Room made) on its peer's tile, making the tile if there is none. */
  attach(call) {
    const entry = this.entries.get(call.id) || this.add({ id: call.id, name: "" }, false);
    const { info, tile } = entry;
    const { state } = this.o;
    const peer = call;
    const ps = {
      name: info.name || "",
      connectionState: peer.connectionState,
      iceConnectionState: peer.pc.iceConnectionState,
      iceCandidatePairType: null,
      remoteCandidateType: null,
      relayProtocol: null,
      rtt: null,
      problem: null,
    };
    state.peers[info.id] = ps;
    state.peerConnections++;
    entry.peer = peer;
    peer.addEventListener("track", ({ detail }) => attachStream(tile, detail.stream, false));
    peer.addEventListener("state", ({ detail }) => {
      ps.connectionState = detail.connectionState;
      ps.iceConnectionState = detail.iceConnectionState;
      renderPeerStatus(peer, tile);
      this._check(entry);
    });
    peer.addEventListener("details", ({ detail }) => renderStats(tile, detail));
    peer.addEventListener("stats", ({ detail }) => {
      ps.iceCandidatePairType = detail.localCandidateType;
      ps.remoteCandidateType = detail.remoteCandidateType;
      ps.relayProtocol = detail.relayProtocol;
      ps.rtt = detail.rtt;
      renderPeerStatus(peer, tile);
    });
  }

  // Shows (or clears) what failed: once the bound passed, or at once when
  // the connection failed.
  _check(entry) {
    const failed = entry.peer?.pc.connectionState === "failed";
    const name = displayName(entry.info.name, entry.info.id);
    const problem = entry.late || failed ? diagnose(entry.peer, { relayOnly: this.o.relayOnly, iceServers: this.o.signaling.iceServers, name }) : null;
    const ps = this.o.state.peers[entry.info.id];
    if (ps) ps.problem = problem ? problem.title : null;
    const key = problem ? problem.title : null;
    if (entry.problem === key) return;
    entry.problem = key;
    setTileProblem(entry.tile, problem);
    if (problem) this.o.log(`call with ${name}: ${problem.title}. ${problem.hint}`);
  }
}
