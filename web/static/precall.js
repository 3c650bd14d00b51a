// The pre-call connection test (docs/protocol.md, "Echo peer (pre-call
// test)"): signaling, STUN, TURN per transport and a call to the server's
// echo peer, directly and relay-only. TURN credentials come only with
// joined, so the test joins a private room of its own (a random name) to
// get them. No DOM code: each check reports a row through report(row),
// first as running, then with its outcome.
//
// A row: {id, name, status, detail, hint}; status is "running", "pass",
// "fail", "skip" (not offered by this server) or "untested".
// The hints follow `switchboard check` and docs/troubleshooting.md.

import { SignalingClient } from "/client/v1/index.js";
import { nothingAnswers, relayedUnreachable } from "./relayhints.js";

const CHANNEL_NAMES = { ws: "WebSocket", sse: "server-sent events", poll: "long-polling" };
const SIGNALING_WAIT = 40000; // ms: room for the client to fall back to SSE, then polling
const GATHER_WAIT = 8000; // ms for one STUN or TURN URL to yield its candidate
const CALL_WAIT = 15000; // ms for the echo call to open its data channel
const BUSY_WAIT = 5000; // ms to wait for the previous echo peer to leave
const PINGS = 20;
const PING_GAP = 50; // ms between pings
const BURST = 2000; // ms of upload burst
const CHUNK = 16 << 10; // bytes per burst message

export const HINTS = {
  signaling: "Nothing answered on any channel: check your internet connection, or a firewall or proxy blocks this site.",
  noWebSocket: "WebSocket did not get through (a proxy likely refuses WebSocket upgrades): signaling works over {channel}, with a little more delay.",
  stunUDP: "No answer from the STUN server while TURN over TCP or TLS works: UDP is blocked on the way. Calls will use TURN over TCP or TLS, expect higher latency.",
  stun: "No answer from the STUN server at {host}: UDP is blocked on the way, or the server advertises an address this browser cannot reach (check its -public-ip).",
  turnAuth: "TURN refused the credentials: the server's secret and the relay's differ, or their clocks disagree.",
  turnUnreachable: "TURN refused or unreachable: calls from restrictive networks will fail.",
  turnUDP: "UDP blocked: calls will use TURN over TCP, expect higher latency.",
  noRelay: "No TURN relay answered (see the TURN rows above), so no call can go through one: calls from networks that block direct connections will fail.",
  echoOff: "not offered by this server: its operator turns the echo peer on with -echo",
  echoBusy: "Another test from your address is still running: try again in a minute.",
  joinRefused: "The server hands out TURN credentials only in a room and refused the test's room: rooms may need an invitation (a join token) here.",
  direct: "No direct path: calls will go through the TURN relay, if it works (see the relay-only row).",
  relay: "No call through the TURN relay: calls from networks that block direct connections will fail.",
};

/**
 * Runs every check; resolves when all have reported.
 * @param {object} o  url (signaling URL), transports (optional, forced channel), report(row)
 */
export async function runPrecall({ url, transports, report }) {
  const client = new SignalingClient(url, transports ? { transports, refreshIceServers: false } : { refreshIceServers: false });
  try {
    const welcome = await checkSignaling(client, report, !!transports);
    if (!welcome) {
      for (const [id, name] of ROWS.slice(1)) report({ id, name, status: "untested", detail: "needs signaling" });
      return;
    }
    const { servers, refused } = await roomServers(client, welcome);
    // The STUN and TURN URLs are asked at once, so an address where nothing
    // answers costs one wait, not one per URL. STUN's verdict waits for
    // TURN's: whether the relay answers over TCP tells a STUN failure from
    // blocked UDP apart from an address nothing answers at.
    const [turn, stun] = await Promise.all([
      refused ? untestedTurn(refused, report) : checkTurn(servers, report),
      askStun(servers, report),
    ]);
    if (stun) reportStun(stun, report, turn);
    await checkEcho(client, false, report); // in the room joined above
    await checkEcho(client, true, report, turn); // in a fresh one: one echo peer per room
  } finally {
    client.disconnect();
  }
}

// A private room: nobody guesses 96 random bits, so nobody walks in on
// the test.
function privateRoom() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return "precall-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// The ICE servers of a session in a room: the welcome's are STUN only.
// A refused join (a server closed with -join-secret) leaves those, and
// the refusal for the TURN rows.
async function roomServers(client, welcome) {
  try {
    const joined = await client.join(privateRoom());
    return { servers: joined.iceServers || welcome.iceServers || [] };
  } catch (err) {
    return { servers: welcome.iceServers || [], refused: err };
  }
}

function untestedTurn(err, report) {
  for (const id of ["turn-udp", "turn-tcp", "turn-tls"]) {
    report(row(id, "untested", `needs a room for TURN credentials: join refused (${err.code || err.message})`, HINTS.joinRefused));
  }
  return { passed: {}, offered: false, auth: false };
}

/** The rows in order: [id, name]. */
export const ROWS = [
  ["signaling", "Signaling server"],
  ["stun", "STUN (your public address)"],
  ["turn-udp", "TURN relay over UDP"],
  ["turn-tcp", "TURN relay over TCP"],
  ["turn-tls", "TURN relay over TLS"],
  ["echo-direct", "Test call, direct"],
  ["echo-relay", "Test call, relay only"],
];
const nameOf = (id) => ROWS.find((r) => r[0] === id)[1];
const row = (id, status, detail = "", hint = "") => ({ id, name: nameOf(id), status, detail, hint });

async function checkSignaling(client, report, forced) {
  const trying = ({ detail }) => detail.state === "connecting" && report(row("signaling", "running", `trying ${CHANNEL_NAMES[detail.transport]}…`));
  client.addEventListener("state", trying);
  const welcome = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), SIGNALING_WAIT);
    client.addEventListener("welcome", ({ detail }) => {
      clearTimeout(timer);
      resolve(detail);
    }, { once: true });
    client.connect();
  });
  client.removeEventListener("state", trying);
  if (!welcome) {
    report(row("signaling", "fail", "no session after " + SIGNALING_WAIT / 1000 + " s", HINTS.signaling));
    return null;
  }
  const channel = client.transport;
  const detail = "reached over " + CHANNEL_NAMES[channel];
  report({ ...row("signaling", "pass", detail, channel === "ws" || forced ? "" : HINTS.noWebSocket.replace("{channel}", CHANNEL_NAMES[channel])), channel });
  return welcome;
}

// askStun gathers with the first STUN URL: {url, g}, or null when none is
// offered.
async function askStun(servers, report) {
  const urls = servers.flatMap((s) => [].concat(s.urls)).filter((u) => u.startsWith("stun:"));
  if (urls.length === 0) {
    report(row("stun", "skip", "not offered by this server"));
    return null;
  }
  report(row("stun", "running", "asking " + urls[0]));
  return { url: urls[0], g: await gather({ iceServers: [{ urls: urls[0] }] }, (c) => c.type === "srflx") };
}

// Chrome leaves out a server-reflexive candidate that equals a host
// candidate (no NAT between browser and server); a binding that failed
// fires icecandidateerror instead. So: srflx seen, or gathering done with
// host candidates and no error, is a pass.
function reportStun({ url, g }, report, turn) {
  if (g.found) report(row("stun", "pass", "your public address: " + g.found.address));
  else if (g.done && g.hosts > 0 && g.errors.length === 0) report(row("stun", "pass", "no NAT between you and the server"));
  else report(row("stun", "fail", failure(url, g), stunHint(url, turn)));
}

// Blocked UDP when TURN over TCP or TLS allocated; nothing at the
// advertised address when TURN answered over no transport either.
function stunHint(url, turn) {
  if (turn.passed["turn-tcp"] || turn.passed["turn-tls"]) return HINTS.stunUDP;
  if (turn.offered && Object.keys(turn.passed).length === 0 && !turn.auth) return "TURN answered over no transport either. " + nothingAnswers(url);
  return HINTS.stun.replace("{host}", url);
}

async function checkTurn(servers, report) {
  const kinds = { "turn-udp": [], "turn-tcp": [], "turn-tls": [] };
  for (const s of servers) {
    for (const u of [].concat(s.urls)) {
      if (u.startsWith("turns:")) kinds["turn-tls"].push({ u, s });
      else if (u.startsWith("turn:")) kinds[/transport=tcp/.test(u) ? "turn-tcp" : "turn-udp"].push({ u, s });
    }
  }
  const passed = {};
  const failed = {};
  // The three transports at once; a transport's URLs one after another,
  // until one allocates.
  await Promise.all(Object.entries(kinds).map(async ([id, list]) => {
    if (list.length === 0) {
      report(row(id, "skip", "not offered by this server"));
      return;
    }
    const protocol = { "turn-udp": "udp", "turn-tcp": "tcp", "turn-tls": "tls" }[id];
    failed[id] = [];
    for (const { u, s } of list) {
      report(row(id, "running", "allocating on " + u));
      const config = { iceTransportPolicy: "relay", iceServers: [{ urls: u, username: s.username, credential: s.credential }] };
      const g = await gather(config, (c) => c.type === "relay" && (!c.relayProtocol || c.relayProtocol === protocol));
      if (g.found) {
        passed[id] = { address: g.found.address, port: g.found.port, url: u };
        report(row(id, "pass", `relay address ${g.found.address}:${g.found.port} allocated`));
        return;
      }
      failed[id].push({ u, g });
    }
  }));
  const failures = Object.keys(kinds).filter((id) => failed[id] && !passed[id]).map((id) => ({ id, failed: failed[id] }));
  let auth = false;
  // UDP blocked while TCP or TLS works is a slower call, not a failed one.
  const fallback = passed["turn-tcp"] || passed["turn-tls"];
  for (const { id, failed } of failures) {
    const refused = failed.some(({ g }) => g.errors.some((e) => e.errorCode === 401 || e.errorCode === 438));
    auth ||= refused;
    const how = { "turn-udp": "UDP", "turn-tcp": "TCP", "turn-tls": "TLS" }[id];
    const hint = refused ? HINTS.turnAuth : id === "turn-udp" && fallback ? HINTS.turnUDP : silent(failed) ? nothingAnswers(failed[0].u, how) : HINTS.turnUnreachable;
    report(row(id, "fail", failed.map(({ u, g }) => failure(u, g)).join("; "), hint));
  }
  const offered = Object.values(kinds).some((list) => list.length > 0);
  return { passed, offered, auth };
}

// No TURN error code but "unreachable" (701, or none at all): nothing
// answered, as opposed to a relay that said no.
const silent = (failed) => failed.every(({ g }) => g.errors.every((e) => e.errorCode === 701 || !e.errorCode));

function failure(url, g) {
  const e = g.errors[0];
  if (e) return `${url}: error ${e.errorCode}${e.errorText ? " " + e.errorText : ""}`;
  return `${url}: no candidate ${g.done ? "(gathering ended)" : "after " + GATHER_WAIT / 1000 + " s"}`;
}

/** Gathers candidates with config until want(candidate) or the end: {found, done, hosts, errors}. */
async function gather(config, want) {
  const pc = new RTCPeerConnection(config);
  const out = { found: null, done: false, hosts: 0, errors: [] };
  try {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, GATHER_WAIT);
      const end = () => {
        clearTimeout(timer);
        resolve();
      };
      pc.addEventListener("icecandidate", ({ candidate: c }) => {
        if (!c) {
          out.done = true;
          return end();
        }
        if (!c.candidate) return; // end of a generation
        if (c.type === "host") out.hosts++;
        if (want(c)) {
          out.found = c;
          end();
        }
      });
      pc.addEventListener("icecandidateerror", (e) => out.errors.push({ errorCode: e.errorCode, errorText: e.errorText, url: e.url }));
      pc.createDataChannel("probe");
      pc.createOffer().then((o) => pc.setLocalDescription(o)).catch(end);
    });
  } finally {
    pc.close();
  }
  return out;
}

// The echo peer joins the test's room (joining a private one when the
// test is in none) and is called with the room's ICE servers.
async function checkEcho(client, relay, report, turn = null) {
  const id = relay ? "echo-relay" : "echo-direct";
  if (relay && turn && Object.keys(turn.passed).length === 0) {
    // The call would gather the same relay candidates, none: no need to
    // wait CALL_WAIT to say so.
    report(row(id, "fail", "not called: no TURN relay allocated", relayCallHint(turn)));
    return;
  }
  report(row(id, "running", "calling the echo peer"));
  let peer = null;
  try {
    if (!client.room) await client.join(privateRoom());
    const echo = await askEcho(client, relay);
    if (echo.off || echo.busy) {
      report(echo.off ? row(id, "skip", HINTS.echoOff) : row(id, "fail", "refused: echo_busy", HINTS.echoBusy));
      return;
    }
    peer = new EchoCall(client, echo.peerId, { iceServers: client.iceServers, iceTransportPolicy: relay ? "relay" : "all" });
    const m = await peer.measure();
    report(row(id, "pass", `round trip ${m.rtt} ms, ${m.loss}% loss, upload about ${rate(m.kbps)}${m.path ? ", " + m.path : ""}`));
  } catch (err) {
    const hint = relay ? relayCallHint(turn) : HINTS.direct;
    report(row(id, "fail", err.message || String(err), hint));
  } finally {
    peer?.close();
    await client.leave().catch(() => {});
  }
}

// A relay-only call that failed: no relay at all, a relayed address
// nothing comes through, or (relays fine) the generic hint.
function relayCallHint(turn) {
  const found = turn && Object.values(turn.passed)[0];
  if (turn && !found) return HINTS.noRelay;
  if (found && found.address) return relayedUnreachable(found.address, found.port, found.url) + " Calls from networks that block direct connections will fail.";
  return HINTS.relay;
}

// One echo peer per client address at a time: the previous test's peer may
// still be leaving, so echo_busy is retried for a few seconds.
async function askEcho(client, relay) {
  const until = Date.now() + BUSY_WAIT;
  const joined = waitEvent(client, "peer-joined", (f) => f.peer && f.peer.name === "echo", CALL_WAIT);
  joined.catch(() => {});
  for (;;) {
    try {
      await client.request({ type: "echo", relay });
      break;
    } catch (err) {
      if (err.code === "echo_off") return { off: true };
      if (err.code !== "echo_busy") throw err;
      if (Date.now() > until) return { busy: true };
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const f = await joined;
  return { peerId: f.peer.id };
}

function waitEvent(target, type, match, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      target.removeEventListener(type, on);
      reject(new Error(`no ${type} after ${ms / 1000} s`));
    }, ms);
    const on = ({ detail }) => {
      if (!match(detail)) return;
      clearTimeout(timer);
      target.removeEventListener(type, on);
      resolve(detail);
    };
    target.addEventListener(type, on);
  });
}

/** A data-channel call to the echo peer: RTT and loss by pings, upload by a burst. */
class EchoCall {
  constructor(client, peerId, config) {
    this.client = client;
    this.peerId = peerId;
    this.pc = new RTCPeerConnection(config);
    this._off = [];
    const on = (type, fn) => {
      client.addEventListener(type, fn);
      this._off.push(() => client.removeEventListener(type, fn));
    };
    on("answer", ({ detail: f }) => f.from === peerId && this.pc.setRemoteDescription({ type: "answer", sdp: f.sdp }).catch(() => {}));
    on("candidate", ({ detail: f }) => f.from === peerId && f.candidate && this.pc.addIceCandidate(f.candidate).catch(() => {}));
    this.pc.addEventListener("icecandidate", ({ candidate }) => client.candidate(peerId, candidate ? candidate.toJSON() : null));
  }

  async measure() {
    const pings = this.pc.createDataChannel("ping", { ordered: false, maxRetransmits: 0 });
    const burst = this.pc.createDataChannel("burst");
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this.client.offer(this.peerId, offer.sdp);
    await Promise.all([opened(pings), opened(burst)]).catch(() => {
      throw new Error(`no connection after ${CALL_WAIT / 1000} s (ICE ${this.pc.iceConnectionState})`);
    });
    const { rtt, loss } = await ping(pings);
    const kbps = await this.upload(burst);
    return { rtt, loss, kbps, path: await this.path() };
  }

  // Bytes the selected candidate pair sent while the burst kept the
  // channel's buffer full: what the network took, not what was queued.
  async upload(dc) {
    const before = await this.pairBytes();
    const start = performance.now();
    const chunk = new Uint8Array(CHUNK);
    dc.bufferedAmountLowThreshold = 256 << 10;
    await new Promise((resolve) => {
      const fill = () => {
        if (performance.now() - start >= BURST || dc.readyState !== "open") {
          dc.onbufferedamountlow = null;
          resolve();
          return;
        }
        while (dc.bufferedAmount < 1 << 20) dc.send(chunk);
      };
      dc.onbufferedamountlow = fill;
      setTimeout(fill, 0);
      setTimeout(() => fill(), BURST + 10); // ends the wait even if the buffer never drains
    });
    const after = await this.pairBytes();
    return Math.round(((after - before) * 8) / (performance.now() - start));
  }

  async pairBytes() {
    const { pair } = await this.selectedPair();
    return pair ? pair.bytesSent || 0 : 0;
  }

  async selectedPair() {
    const stats = await this.pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    return { pair, stats };
  }

  async path() {
    const { pair, stats } = await this.selectedPair();
    const local = pair && stats.get(pair.localCandidateId);
    if (!local) return "";
    return local.candidateType === "relay" ? "through the relay over " + (local.relayProtocol || "udp").toUpperCase() : "direct";
  }

  close() {
    for (const off of this._off) off();
    this.pc.close();
  }
}

const rate = (kbps) => (kbps >= 10000 ? Math.round(kbps / 1000) + " Mbit/s" : kbps + " kbit/s");

function opened(dc) {
  if (dc.readyState === "open") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(reject, CALL_WAIT);
    dc.addEventListener("open", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

// PINGS numbered pings, PING_GAP apart, on an unreliable channel; those
// not back a second after the last one went are lost.
async function ping(dc) {
  const sent = new Map();
  const rtts = [];
  let allBack = null;
  dc.onmessage = ({ data }) => {
    const t = sent.get(data);
    if (t === undefined) return;
    sent.delete(data);
    rtts.push(performance.now() - t);
    if (sent.size === 0) allBack?.();
  };
  for (let i = 0; i < PINGS; i++) {
    const id = "ping " + i;
    sent.set(id, performance.now());
    dc.send(id);
    await new Promise((r) => setTimeout(r, PING_GAP));
  }
  if (sent.size > 0) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 1000);
      allBack = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  dc.onmessage = null;
  if (rtts.length === 0) throw new Error(`none of ${PINGS} pings came back`);
  rtts.sort((a, b) => a - b);
  const median = rtts[Math.floor(rtts.length / 2)];
  return { rtt: Math.max(1, Math.round(median)), loss: Math.round((sent.size / PINGS) * 100) };
}
