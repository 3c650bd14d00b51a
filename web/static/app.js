// The demo page: a mesh video call with chat, on the client package
// (/client/v1/: signaling, and a Room of calls with perfect negotiation),
// peer.js (what each call's connection is made of) and media.js.
//
// URL parameters: room, name, autojoin=1 (ready to join with one click), relay=1 (force
// TURN with iceTransportPolicy "relay"), transport=ws|sse|poll (force one
// signaling channel instead of falling back from WebSocket to server-sent
// events to long-polling, and climbing back). window.switchboard exposes
// the call state for tests and curious developers.

import { SignalingClient, Room } from "/client/v1/index.js";
import { Roster, SPEAKER_LEVEL, SPEAKER_HOLD } from "./roster.js";
import { Peer } from "./peer.js";
import { MicMeter } from "./meter.js";
import { MediaControls } from "./controls.js";
import { acquireMedia } from "./media.js";
import { validRoom, validName, displayName, joinErrorText } from "./util.js";
import { Lobby } from "./lobby.js";
import { PrecallPanel } from "./precall-panel.js";
import { showNotice, copyText } from "./notice.js";
import { ChatPanel, MAX_CHAT_TEXT } from "./chat.js";
import { ConnStatus } from "./status.js";
import { createTile as newTile, attachStream, setTileStatus, setFlags, watchLayout } from "./tiles.js";
import { mediaProblem } from "./permission.js";

const params = new URLSearchParams(location.search);
const forceRelay = params.get("relay") === "1";
const forcedTransport = ["ws", "sse", "poll"].includes(params.get("transport")) ? params.get("transport") : null;

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
  chatSend: $("chat-send"),
  chatOffline: $("chat-offline"),
  outage: $("outage"),
  outageText: $("outage-text"),
  reconnectNow: $("reconnect-now"),
  mediaNotice: $("media-notice"),
  mediaRetry: $("media-retry"),
  tileTemplate: $("tile-template"),
};

// Observable state, also the test hook. Plain data only, so
// JSON.stringify(window.switchboard) shows everything.
const state = {
  sessionId: null,
  connected: false,
  transport: null, // "ws", "sse" or "poll": the channel signaling is on
  signalingBase: null, // the origin signaling's channel goes to: the room's node after a move
  resumes: 0, // channels that took up the session again (nothing lost)
  fallbacks: 0, // moves to the next channel kind: the one before kept failing while the server answered
  climbs: 0, // moves back to WebSocket after a fallback (by resuming: nothing lost)
  sessions: 0, // sessions started (a reconnect that could not resume starts one)
  peerConnections: 0, // RTCPeerConnections created; a resume creates none
  room: null,
  name: "",
  mediaMode: null,
  mediaProblem: null, // "denied", "busy"…: the camera or microphone could not be used
  relayOnly: forceRelay,
  reconnectDelays: [], // ms, of the latest outage's retries (the banner's countdowns)
  peers: {}, // id -> {name, connectionState, iceConnectionState, iceCandidatePairType, remoteCandidateType, relayProtocol, rtt, problem}
  chat: [], // {from, name, text, at}
  sendChat: (text) => inCall && chat.sendText(text),
};
window.switchboard = state;
// The live RTCPeerConnections, for tests that check a reconnect kept them;
// not enumerable, so JSON.stringify(window.switchboard) stays plain data.
Object.defineProperty(state, "peerConnectionObjects", { value: () => Object.fromEntries([...peers.entries].map(([id, e]) => [id, e.peer?.pc])) });

const wsScheme = location.protocol === "https:" ? "wss:" : "ws:";
const signaling = new SignalingClient(`${wsScheme}//${location.host}/v1/ws`, forcedTransport ? { transports: [forcedTransport] } : {});
state.transport = signaling.transport;
// One call per remote peer; the Room routes offers, answers, candidates
// and renewed TURN credentials to them.
const room = new Room(signaling, {
  localStream: () => controls.outgoing,
  config: { iceTransportPolicy: forceRelay ? "relay" : "all", bundlePolicy: "max-bundle" },
  createCall: (o) => new Peer(o),
  log: (msg) => log(msg),
});
const createTile = (o) => newTile(ui.tileTemplate, o);
const layoutTiles = watchLayout(ui.tiles);
const peers = new Roster({
  tiles: ui.tiles,
  createTile,
  layout: layoutTiles,
  signaling,
  state,
  relayOnly: forceRelay,
  log,
});
const chat = new ChatPanel(
  {
    log: ui.chatLog, form: ui.chatForm, input: ui.chatInput, send: ui.chatSend, offline: ui.chatOffline,
    panel: ui.chat, toggle: $("toggle-chat"), close: $("close-chat"), unread: $("unread"),
  },
  state.chat,
  (data) => signaling.message(data),
);
const connStatus = new ConnStatus(
  { pill: ui.connStatus, text: ui.connText, transport: ui.connTransport, banner: ui.outage, bannerText: ui.outageText, reconnect: ui.reconnectNow },
  signaling,
  { forced: !!forcedTransport, onOnline: (online, why) => chat.setOnline(online, why) },
);
let media = null; // result of acquireMedia
let localTile = null;
let inCall = false;
const controls = new MediaControls(
  { mic: ui.toggleMic, cam: ui.toggleCam, share: $("toggle-share") },
  {
    media: () => media,
    send: sendTrack,
    show: (stream, mirror) => {
      localTile?.classList.toggle("mirror", mirror);
      if (localTile) attachStream(localTile, stream, true);
    },
    changed: ({ audio, video }) => {
      localTile?.classList.toggle("video-off", !video);
      setFlags(localTile, { audio, video });
      // Tell the room, so tiles can show "muted" instead of silence.
      signaling.message({ kind: "media", audio, video });
    },
    inCall: () => inCall,
    state,
    log,
  },
);

// Your own tile lights up too when you speak (and are not muted): the
// meter's level is dBFS mapped to 0..1, so SPEAKER_LEVEL, linear, maps to
// the same loudness as the remote tiles' threshold.
const SELF_LEVEL = (20 * Math.log10(SPEAKER_LEVEL) + 60) / 60;
let selfLoudAt = 0;
const selfMeter = new MicMeter((level) => {
  const now = Date.now();
  state.selfPeak = Math.max(state.selfPeak || 0, level);
  if (level > SELF_LEVEL && controls.micOn) selfLoudAt = now;
  const speaking = now - selfLoudAt < SPEAKER_HOLD;
  state.selfSpeaking = speaking;
  localTile?.classList.toggle("speaking", speaking);
});

/** Sends track (or nothing) as the local track of its kind on every connection. */
function sendTrack(kind, track, stream) {
  for (const { peer } of peers.entries.values()) peer?.replaceTrack(kind, track, stream).catch((err) => log("replaceTrack:", err));
}

function log(...args) {
  console.log("[switchboard]", ...args);
}

// --- lobby ---

const lobby = new Lobby(
  {
    preview: $("preview"),
    previewStatus: $("preview-status"),
    meter: $("mic-meter"),
    notice: $("lobby-media-notice"),
    retry: $("lobby-media-retry"),
    camera: $("camera-select"),
    mic: $("mic-select"),
    room: ui.roomInput,
    name: ui.nameInput,
    nameHelp: $("name-help"),
    copy: $("lobby-copy-link"),
  },
  { params, state, log },
);
lobby.start();
new PrecallPanel(
  { button: $("precall-button"), summary: $("precall-summary"), list: $("precall-results") },
  { url: signaling.url, transports: forcedTransport ? [forcedTransport] : null, state },
);

ui.joinForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  joinCall();
});

function showJoinError(text) {
  ui.joinError.textContent = text;
  ui.joinError.hidden = !text;
}

async function joinCall() {
  if (inCall) return;
  const roomName = ui.roomInput.value.trim();
  const name = ui.nameInput.value.trim();
  if (!validRoom(roomName)) {
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
  lobby.holdName(name);
  state.room = roomName;
  state.name = name;

  media = await lobby.takeMedia();
  state.mediaMode = media.mode;
  if (!inCall) {
    media.stop(); // left while the camera was starting
    return;
  }

  const url = new URL(location.href);
  url.searchParams.set("room", roomName);
  if (name) url.searchParams.set("name", name);
  else url.searchParams.delete("name");
  url.searchParams.delete("autojoin");
  history.replaceState(null, "", url);

  chat.clear();
  chat.self = { id: null, name };
  showCall(roomName);
  try {
    await room.join(roomName, name);
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
  showMedia();
  controls.reset();
  localTile = createTile({ name: state.name, local: true });
  localTile.classList.toggle("mirror", media.cameraVideo); // a camera preview reads naturally mirrored
  setTileStatus(localTile, "local", "You");
  if (media.stream) attachStream(localTile, media.stream, true);
  ui.tiles.prepend(localTile);
  selfMeter.watch(media.stream);
  layoutTiles();
  connStatus.setInCall(true);
  document.title = `${room} · Switchboard`;
}

// What the camera and microphone gave: the badge, and when the browser
// refused them, how to allow them and a Retry (the test pattern goes out
// meanwhile).
function showMedia() {
  ui.mediaMode.textContent = media.description;
  ui.mediaMode.dataset.mode = media.mode;
  const problem = mediaProblem(media);
  state.mediaProblem = problem ? problem.code : null;
  showNotice(ui.mediaNotice, ui.mediaRetry, problem);
}

ui.mediaRetry.addEventListener("click", async () => {
  if (!inCall) return;
  ui.mediaRetry.disabled = true;
  const fresh = await acquireMedia(state.name || "Guest", lobby.devices);
  ui.mediaRetry.disabled = false;
  if (!inCall || !media) return fresh.stop();
  log("media retry:", fresh.mode, "-", fresh.description, fresh.error ? `(${fresh.error})` : "");
  controls.stopShare();
  const old = media;
  media = fresh;
  state.mediaMode = fresh.mode;
  controls.apply();
  for (const kind of ["audio", "video"]) sendTrack(kind, fresh.stream?.getTracks().find((t) => t.kind === kind) || null, fresh.stream);
  old.stop();
  localTile.classList.toggle("mirror", fresh.cameraVideo);
  if (fresh.stream) attachStream(localTile, fresh.stream, true);
  selfMeter.watch(fresh.stream);
  showMedia();
});

ui.leave.addEventListener("click", () => leaveCall(""));

function leaveCall(errorText) {
  inCall = false;
  room.leave().catch(() => {});
  signaling.disconnect();
  peers.clear();
  controls.stopShare();
  selfMeter.watch(null);
  if (media) media.stop();
  media = null;
  state.mediaMode = null;
  state.room = null;
  localTile?.remove();
  localTile = null;
  ui.call.hidden = true;
  ui.chat.hidden = true;
  ui.lobby.hidden = false;
  connStatus.setInCall(false);
  document.body.classList.remove("in-call");
  document.title = "Switchboard · video call";
  ui.joinButton.disabled = false;
  ui.joinButton.textContent = "Join call";
  showJoinError(errorText);
  lobby.releaseName();
  lobby.start();
  ui.joinButton.focus();
}

ui.copyLink.addEventListener("click", () => copyText(ui.copyLink, ui.shareLink.value, ui.shareLink));
$("alone-copy-link").addEventListener("click", (ev) => copyText(ev.currentTarget, ui.shareLink.value, ui.shareLink));
ui.shareLink.addEventListener("focus", () => ui.shareLink.select());

// --- signaling events ---

signaling.addEventListener("state", ({ detail }) => {
  state.connected = detail.state === "open";
  state.sessionId = signaling.sessionId; // a session outlives a lost channel
  state.transport = detail.transport;
  state.signalingBase = signaling.channelOrigin;
  if (detail.state === "reconnecting") {
    if (detail.attempt === 1) state.reconnectDelays.length = 0;
    if (state.reconnectDelays.length < 50) state.reconnectDelays.push(detail.delay);
  }
  // Tiles keep their own status: media flows peer to peer while
  // signaling reconnects (status.js shows the outage).
});

signaling.addEventListener("welcome", ({ detail }) => {
  state.sessionId = detail.session;
  chat.self.id = detail.session;
  state.sessions++;
  log("session", detail.session, "ice servers", detail.iceServers.map((s) => s.urls).flat().join(" "));
});

// A resumed session is still in its room and its peers saw nothing: every
// call goes on, and what was sent meanwhile has been replayed.
signaling.addEventListener("resumed", ({ detail }) => {
  state.resumes++;
  log("resumed on", detail.transport, "after event", detail.after, "(last", detail.last + ")");
});

signaling.addEventListener("moving", ({ detail }) => log("moving to the room's node", detail.to));
// The pill follows (state); calls never notice.
signaling.addEventListener("transport", ({ detail }) => {
  if (detail.reason === "climb") state.climbs++;
  else state.fallbacks++;
  log(detail.reason === "climb" ? "signaling back on" : "signaling falls back to", detail.to, "from", detail.from);
});

signaling.addEventListener("resume-failed", ({ detail }) => {
  log("could not resume:", detail.message || "session gone", "- starting a new session");
});

// The room kept the calls whose media flows (to peers still here, or
// waiting for them to come back) and makes the new ones once this returns.
room.addEventListener("joined", ({ detail }) => {
  log(detail.rejoin ? "re-joined" : "joined", detail.room, "with", detail.peers.length, "peer(s)");
  const kept = new Set([...room.calls.keys(), ...room.away.map((p) => p.id)]);
  for (const id of [...peers.entries.keys()]) if (!kept.has(id)) peers.remove(id);
  for (const info of detail.peers) peers.add(info, true);
  if (detail.rejoin) chat.system("Reconnected");
  else if (detail.peers.length === 0) chat.system("You're the first one here. Share the link to invite others.");
  else chat.system(`In the call: ${detail.peers.map((p) => displayName(p.name, p.id)).join(", ")}`);
  if (!controls.micOn || !controls.camOn) signaling.message({ kind: "media", audio: controls.micOn, video: controls.camOn });
});

room.addEventListener("peer-joined", ({ detail }) => {
  const info = detail.peer;
  peers.add(info, false);
  chat.system(`${displayName(info.name, info.id)} joined`);
  if (!controls.micOn || !controls.camOn) signaling.message({ kind: "media", audio: controls.micOn, video: controls.camOn }, info.id);
});

room.addEventListener("peer-left", ({ detail }) => {
  const entry = peers.get(detail.peer.id);
  if (!entry) return;
  chat.system(`${displayName(entry.info.name, entry.info.id)} left`);
  peers.remove(detail.peer.id);
});

// A peer's session ended while its media still flows: the call waits for
// the same tab to come back as a new session (room.js).
room.addEventListener("peer-away", ({ detail }) => log("peer", detail.peer.id, "lost its session; its call goes on while it comes back"));
room.addEventListener("peer-back", ({ detail }) => {
  log("peer", detail.was, "came back as", detail.peer.id);
  peers.rekey(detail.was, detail.peer);
});

room.addEventListener("call", ({ detail }) => peers.attach(detail.call));

signaling.addEventListener("message", ({ detail }) => {
  const data = detail.data;
  if (!data || typeof data !== "object") return;
  if (data.kind === "chat" && typeof data.text === "string") {
    const entry = peers.get(detail.from);
    chat.add(detail.from, entry ? entry.info.name : "", data.text.slice(0, MAX_CHAT_TEXT), false);
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
  else if (detail.code === 4001 && inCall) chat.system("Signaling moved to another tab or window. Reload to rejoin here.");
});

signaling.addEventListener("ice-servers", ({ detail }) => {
  if (detail.room) log("ice servers in the room:", detail.iceServers.map((s) => s.urls).flat().join(" "));
  else log("TURN credentials renewed, ttl", detail.ttl); // the room hands them to every call
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

// --- start ---

// autojoin=1 gets the page ready, but a link alone never shares the camera: one click does.
if (params.get("autojoin") === "1" && params.get("room")) ui.joinButton.textContent = `Join ${params.get("room")}`;
(params.get("autojoin") === "1" ? ui.joinButton : ui.nameInput).focus();
