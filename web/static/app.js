// The demo page: a mesh video call with chat, on client.js (signaling),
// peer.js (one RTCPeerConnection per remote peer) and media.js.
//
// URL parameters: room, name, autojoin=1 (ready to join with one click), relay=1 (force
// TURN with iceTransportPolicy "relay"), transport=ws|sse|poll (force one
// signaling channel instead of falling back from WebSocket to server-sent
// events to long-polling). window.switchboard exposes the call state for
// tests and curious developers.

import { SignalingClient } from "./client.js";
import { Peer } from "./peer.js";
import { acquireMedia } from "./media.js";
import { randomRoomName, validRoom, validName, displayName, joinErrorText } from "./util.js";
import { ChatLog } from "./chatlog.js";
import { createTile as newTile, attachStream, setTileStatus, setFlags, watchLayout } from "./tiles.js";

const MAX_CHAT_TEXT = 2000; // characters; frames are capped at 64 KiB
const MAX_CHAT_LOG = 500; // messages kept on screen

const params = new URLSearchParams(location.search);
const forceRelay = params.get("relay") === "1";
const TRANSPORT_LABELS = { ws: "WebSocket", sse: "Server-sent events", poll: "Long-polling" };
const forcedTransport = Object.hasOwn(TRANSPORT_LABELS, params.get("transport")) ? params.get("transport") : null;

const $ = (id) => document.getElementById(id);
const ui = {
  connStatus: $("conn-status"),
  connText: $("conn-text"),
  connTransport: $("conn-transport"),
  lobby: $("lobby"),
  joinForm: $("join-form"),
  roomInput: $("room-input"),
  nameInput: $("name-input"),
  joinError: $("join-error"),
  joinButton: $("join-button"),
  call: $("call"),
  roomName: $("room-name"),
  mediaMode: $("media-mode"),
  shareLink: $("share-link"),
  copyLink: $("copy-link"),
  tiles: $("tiles"),
  toggleMic: $("toggle-mic"),
  toggleCam: $("toggle-cam"),
  leave: $("leave-button"),
  chat: $("chat"),
  chatLog: $("chat-log"),
  chatForm: $("chat-form"),
  chatInput: $("chat-input"),
  tileTemplate: $("tile-template"),
};

// Observable state, also the test hook. Plain data only, so
// JSON.stringify(window.switchboard) shows everything.
const state = {
  sessionId: null,
  connected: false,
  transport: null, // "ws", "sse" or "poll": the channel signaling is on
  resumes: 0, // channels that took up the session again (nothing lost)
  sessions: 0, // sessions started (a reconnect that could not resume starts one)
  peerConnections: 0, // RTCPeerConnections created; a resume creates none
  room: null,
  name: "",
  mediaMode: null,
  relayOnly: forceRelay,
  peers: {}, // id -> {name, connectionState, iceConnectionState, iceCandidatePairType, remoteCandidateType, relayProtocol, rtt}
  chat: [], // {from, name, text, at}
  sendChat,
};
window.switchboard = state;

const wsScheme = location.protocol === "https:" ? "wss:" : "ws:";
const signaling = new SignalingClient(`${wsScheme}//${location.host}/v1/ws`, forcedTransport ? { transports: [forcedTransport] } : {});
state.transport = signaling.transport;
const peers = new Map(); // id -> {peer: Peer, tile, info}
const createTile = (o) => newTile(ui.tileTemplate, o);
const layoutTiles = watchLayout(ui.tiles);
const chatLog = new ChatLog(ui.chatLog, MAX_CHAT_LOG);
let media = null; // result of acquireMedia
let localTile = null;
let inCall = false;
let micOn = true;
let camOn = true;

function log(...args) {
  console.log("[switchboard]", ...args);
}

// --- lobby ---

ui.roomInput.value = params.get("room") || randomRoomName();
ui.nameInput.value = params.get("name") || readSavedName();

ui.joinForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  joinCall();
});

function readSavedName() {
  try {
    return localStorage.getItem("switchboard.name") || "";
  } catch {
    return "";
  }
}

function saveName(name) {
  try {
    localStorage.setItem("switchboard.name", name);
  } catch {
    // Storage may be disabled; the name is just not remembered.
  }
}

function showJoinError(text) {
  ui.joinError.textContent = text;
  ui.joinError.hidden = !text;
}

async function joinCall() {
  if (inCall) return;
  const room = ui.roomInput.value.trim();
  const name = ui.nameInput.value.trim();
  if (!validRoom(room)) {
    showJoinError("Room names are 1–64 letters, digits, dots, dashes or underscores.");
    ui.roomInput.focus();
    return;
  }
  if (!validName(name)) {
    showJoinError("Names are at most 64 bytes of printable text.");
    ui.nameInput.focus();
    return;
  }
  showJoinError("");
  inCall = true;
  ui.joinButton.disabled = true;
  ui.joinButton.textContent = "Starting camera…";
  saveName(name);
  state.room = room;
  state.name = name;

  media = await acquireMedia(name || "Guest");
  state.mediaMode = media.mode;
  log("media:", media.mode, "-", media.description, media.error ? `(${media.error})` : "");
  if (!inCall) {
    media.stop(); // left while the camera was starting
    return;
  }

  const url = new URL(location.href);
  url.searchParams.set("room", room);
  if (name) url.searchParams.set("name", name);
  else url.searchParams.delete("name");
  url.searchParams.delete("autojoin");
  history.replaceState(null, "", url);

  chatLog.clear();
  state.chat.length = 0;
  showCall(room);
  signaling.connect();
  try {
    await signaling.join(room, name);
  } catch (err) {
    if (!inCall) return;
    log("join failed:", err.code, err.message);
    leaveCall(joinErrorText(err));
  }
}

function showCall(room) {
  ui.lobby.hidden = true;
  ui.call.hidden = false;
  ui.chat.hidden = false;
  document.body.classList.add("in-call");
  ui.roomName.textContent = room;
  const link = new URL("/", location.href);
  link.searchParams.set("room", room);
  ui.shareLink.value = link.href;
  ui.mediaMode.textContent = media.description;
  ui.mediaMode.dataset.mode = media.mode;
  micOn = camOn = true;
  renderToggles();
  localTile = createTile({ name: state.name, local: true });
  localTile.classList.toggle("mirror", media.cameraVideo); // a camera preview reads naturally mirrored
  setTileStatus(localTile, "local", "You");
  if (media.stream) attachStream(localTile, media.stream, true);
  ui.tiles.append(localTile);
  layoutTiles();
  document.title = `${room} · Switchboard`;
}

ui.leave.addEventListener("click", () => leaveCall(""));

function leaveCall(errorText) {
  inCall = false;
  signaling.leave().catch(() => {});
  signaling.disconnect();
  for (const id of [...peers.keys()]) removePeer(id);
  if (media) media.stop();
  media = null;
  state.mediaMode = null;
  state.room = null;
  localTile?.remove();
  localTile = null;
  ui.call.hidden = true;
  ui.chat.hidden = true;
  ui.lobby.hidden = false;
  document.body.classList.remove("in-call");
  document.title = "Switchboard · video call";
  ui.joinButton.disabled = false;
  ui.joinButton.textContent = "Join call";
  showJoinError(errorText);
  ui.joinButton.focus();
}

ui.copyLink.addEventListener("click", async () => {
  const text = ui.shareLink.value;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    ui.shareLink.select(); // no clipboard access: let the user copy
    return;
  }
  ui.copyLink.textContent = "Copied";
  setTimeout(() => (ui.copyLink.textContent = "Copy link"), 1500);
});
ui.shareLink.addEventListener("focus", () => ui.shareLink.select());

// --- mic and camera ---

ui.toggleMic.addEventListener("click", () => {
  micOn = !micOn;
  setTrackEnabled("audio", micOn);
});
ui.toggleCam.addEventListener("click", () => {
  camOn = !camOn;
  setTrackEnabled("video", camOn);
});

function setTrackEnabled(kind, on) {
  for (const t of media?.stream?.getTracks() || []) if (t.kind === kind) t.enabled = on;
  renderToggles();
  localTile?.classList.toggle("video-off", !camOn);
  setFlags(localTile, { audio: micOn, video: camOn });
  // Tell the room, so tiles can show "muted" instead of silence.
  signaling.message({ kind: "media", audio: micOn, video: camOn });
}

function renderToggles() {
  const hasAudio = !!media?.stream?.getAudioTracks().length;
  const hasVideo = !!media?.stream?.getVideoTracks().length;
  ui.toggleMic.disabled = !hasAudio;
  ui.toggleCam.disabled = !hasVideo;
  // The label says what a press does; data-off only styles the button.
  ui.toggleMic.dataset.off = String(!micOn);
  ui.toggleCam.dataset.off = String(!camOn);
  ui.toggleMic.querySelector(".label").textContent = micOn ? "Mute" : "Unmute";
  ui.toggleCam.querySelector(".label").textContent = camOn ? "Stop video" : "Start video";
}

// --- signaling events ---

signaling.addEventListener("state", ({ detail }) => {
  state.connected = detail.state === "open";
  state.sessionId = signaling.sessionId; // a session outlives a lost channel
  state.transport = detail.transport;
  let text;
  switch (detail.state) {
    case "connecting":
      text = detail.attempt ? "Reconnecting…" : "Connecting…";
      break;
    case "open":
      text = "Connected";
      break;
    case "reconnecting":
      text = `Connection lost, retrying in ${Math.ceil(detail.delay / 1000)} s`;
      break;
    default:
      text = "Not connected";
  }
  ui.connStatus.dataset.state = detail.state;
  ui.connText.textContent = text;
  ui.connTransport.textContent = TRANSPORT_LABELS[detail.transport] || detail.transport;
  ui.connTransport.dataset.transport = detail.transport;
  ui.connTransport.title = forcedTransport ? "Signaling channel (forced by ?transport=)" : "Signaling channel";
  // Tiles keep their own status: media flows peer to peer while
  // signaling reconnects.
});

signaling.addEventListener("welcome", ({ detail }) => {
  state.sessionId = detail.session;
  state.sessions++;
  log("session", detail.session, "ice servers", detail.iceServers.map((s) => s.urls).flat().join(" "));
});

// A resumed session is still in its room and its peers saw nothing: every
// call goes on, and what was sent meanwhile has been replayed.
signaling.addEventListener("resumed", ({ detail }) => {
  state.resumes++;
  log("resumed on", detail.transport, "after event", detail.after, "(last", detail.last + ")");
});

signaling.addEventListener("resume-failed", ({ detail }) => {
  log("could not resume:", detail.message || "session gone", "- starting a new session");
});

signaling.addEventListener("joined", ({ detail }) => {
  log(detail.rejoin ? "re-joined" : "joined", detail.room, "with", detail.peers.length, "peer(s)");
  // A new session id means every old connection is gone on the other
  // side: start over, offering to everyone already there.
  for (const id of [...peers.keys()]) removePeer(id);
  for (const info of detail.peers) addPeer(info, true);
  if (detail.rejoin) systemMessage("Reconnected");
  else if (detail.peers.length === 0) systemMessage("You're the first one here. Share the link to invite others.");
  else systemMessage(`In the call: ${detail.peers.map((p) => displayName(p.name, p.id)).join(", ")}`);
  if (!micOn || !camOn) signaling.message({ kind: "media", audio: micOn, video: camOn });
});

signaling.addEventListener("peer-joined", ({ detail }) => {
  const info = detail.peer;
  addPeer(info, false);
  systemMessage(`${displayName(info.name, info.id)} joined`);
  if (!micOn || !camOn) signaling.message({ kind: "media", audio: micOn, video: camOn }, info.id);
});

signaling.addEventListener("peer-left", ({ detail }) => {
  const entry = peers.get(detail.peer.id);
  if (!entry) return;
  systemMessage(`${displayName(entry.info.name, entry.info.id)} left`);
  removePeer(detail.peer.id);
});

signaling.addEventListener("offer", ({ detail }) => ensurePeer(detail.from).peer.handleDescription("offer", detail.sdp));
signaling.addEventListener("answer", ({ detail }) => peers.get(detail.from)?.peer.handleDescription("answer", detail.sdp));
signaling.addEventListener("candidate", ({ detail }) => peers.get(detail.from)?.peer.handleCandidate(detail.candidate));

signaling.addEventListener("message", ({ detail }) => {
  const data = detail.data;
  if (!data || typeof data !== "object") return;
  if (data.kind === "chat" && typeof data.text === "string") {
    const entry = peers.get(detail.from);
    addChat(detail.from, entry ? entry.info.name : "", data.text.slice(0, MAX_CHAT_TEXT), false);
  } else if (data.kind === "media") {
    const entry = peers.get(detail.from);
    if (entry) {
      setFlags(entry.tile, { audio: data.audio !== false, video: data.video !== false });
      entry.tile.classList.toggle("video-off", data.video === false);
    }
  }
});

signaling.addEventListener("error", ({ detail }) => {
  log("server error:", detail.code, detail.message);
  if (inCall && ["room_full", "bad_room", "bad_name"].includes(detail.code)) {
    leaveCall(joinErrorText(detail)); // a re-join after reconnect was refused
  }
});

signaling.addEventListener("close", ({ detail }) => {
  if (detail.willReconnect) log("signaling", detail.transport, "closed", detail.code, detail.reason || "", "- reconnecting");
  else if (detail.code === 4001 && inCall) systemMessage("Signaling moved to another tab or window. Reload to rejoin here.");
});

signaling.addEventListener("ice-servers", ({ detail }) => {
  log("TURN credentials renewed, ttl", detail.ttl);
  for (const { peer } of peers.values()) peer.setIceServers(detail.iceServers);
});

window.addEventListener("online", () => signaling.reconnectNow());
// Say bye when the page goes away, so peers see us leave at once instead of
// after the server's resume grace period.
window.addEventListener("pagehide", () => {
  if (inCall) signaling.disconnect();
});
window.addEventListener("pageshow", (ev) => {
  if (ev.persisted && inCall) leaveCall("The call ended while the page was away.");
});

// --- peers ---

function rtcConfig() {
  return { iceServers: signaling.iceServers, iceTransportPolicy: forceRelay ? "relay" : "all", bundlePolicy: "max-bundle" };
}

function ensurePeer(id) {
  return peers.get(id) || addPeer({ id, name: "" }, false);
}

function addPeer(info, initiator) {
  if (peers.has(info.id)) return peers.get(info.id);
  const tile = createTile({ name: displayName(info.name, info.id), local: false });
  tile.dataset.peer = info.id;
  setTileStatus(tile, "new", initiator ? "Calling…" : "Waiting…");
  ui.tiles.append(tile);
  const peer = new Peer({
    id: info.id,
    // Exactly one side of each pair is polite; comparing ids needs no
    // extra signaling.
    polite: state.sessionId < info.id,
    initiator,
    signaling,
    config: rtcConfig(),
    localStream: media?.stream || null,
    log: (msg) => log(msg),
  });
  const ps = {
    name: info.name || "",
    connectionState: peer.connectionState,
    iceConnectionState: peer.pc.iceConnectionState,
    iceCandidatePairType: null,
    remoteCandidateType: null,
    relayProtocol: null,
    rtt: null,
  };
  state.peers[info.id] = ps;
  state.peerConnections++;
  const entry = { peer, tile, info };
  peers.set(info.id, entry);

  peer.addEventListener("track", ({ detail }) => attachStream(tile, detail.stream, false));
  peer.addEventListener("state", ({ detail }) => {
    ps.connectionState = detail.connectionState;
    ps.iceConnectionState = detail.iceConnectionState;
    renderPeerStatus(entry);
  });
  peer.addEventListener("stats", ({ detail }) => {
    ps.iceCandidatePairType = detail.localCandidateType;
    ps.remoteCandidateType = detail.remoteCandidateType;
    ps.relayProtocol = detail.relayProtocol;
    ps.rtt = detail.rtt;
    renderPeerStatus(entry);
  });
  layoutTiles();
  return entry;
}

function removePeer(id) {
  const entry = peers.get(id);
  if (!entry) return;
  entry.peer.close();
  entry.tile.remove();
  peers.delete(id);
  delete state.peers[id];
  layoutTiles();
}

function renderPeerStatus({ peer, tile }) {
  const s = peer.connectionState;
  const labels = {
    new: "Waiting…",
    connecting: "Connecting…",
    connected: "Connected",
    disconnected: "Reconnecting…",
    failed: "Connection failed",
    closed: "Closed",
  };
  let text = labels[s] || s;
  if (s === "connected" && peer.stats.localCandidateType) {
    const relayed = peer.stats.localCandidateType === "relay" || peer.stats.remoteCandidateType === "relay";
    text = relayed ? `Relayed${peer.stats.relayProtocol ? " (" + peer.stats.relayProtocol.toUpperCase() + ")" : ""}` : "Direct";
    if (peer.stats.rtt !== null) text += ` · ${Math.round(peer.stats.rtt * 1000)} ms`;
  }
  setTileStatus(tile, s, text);
}

// --- chat ---

ui.chatForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (sendChat(ui.chatInput.value)) ui.chatInput.value = "";
  ui.chatInput.focus();
});

/** Sends text to the whole room; returns false when nothing was sent. */
function sendChat(text) {
  text = String(text).trim().slice(0, MAX_CHAT_TEXT);
  if (!text || !inCall) return false;
  if (!signaling.message({ kind: "chat", text })) {
    systemMessage("Not connected: message not sent");
    return false;
  }
  addChat(state.sessionId, state.name, text, true);
  return true;
}

function addChat(from, name, text, mine) {
  state.chat.push({ from, name: name || "", text, at: Date.now() });
  if (state.chat.length > MAX_CHAT_LOG) state.chat.shift();
  chatLog.add({ from, name, text, mine });
}

function systemMessage(text) {
  chatLog.system(text);
}

// --- start ---

// autojoin=1 gets the page ready, but a link alone never shares the camera: one click does.
if (params.get("autojoin") === "1" && params.get("room")) ui.joinButton.textContent = `Join ${params.get("room")}`;
(params.get("autojoin") === "1" ? ui.joinButton : ui.nameInput).focus();
