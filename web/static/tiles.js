// Video tiles of the demo page: one per peer, laid out as a gallery.

import { initials } from "./util.js";

/** A new tile from the page's <template>, for the local or a remote peer. */
export function createTile(template, { name, local }) {
  const tile = template.content.firstElementChild.cloneNode(true);
  tile.classList.add(local ? "local" : "remote");
  tile.querySelector(".tile-name").textContent = local ? (name ? `${name} (you)` : "You") : name;
  tile.querySelector(".avatar").textContent = initials(name);
  const video = tile.querySelector("video");
  video.muted = local; // never play our own microphone back
  const markVideo = () => tile.classList.toggle("has-video", video.videoWidth > 0);
  video.addEventListener("loadeddata", markVideo);
  video.addEventListener("resize", markVideo);
  tile.querySelector(".tile-unmute").addEventListener("click", (ev) => {
    video.muted = false;
    ev.currentTarget.hidden = true;
    video.play().catch(() => {});
  });
  const statsBox = tile.querySelector(".tile-stats");
  const statsToggle = tile.querySelector(".tile-stats-toggle");
  statsToggle.hidden = local;
  statsToggle.querySelector(".visually-hidden").textContent = `Connection details for ${name}`;
  statsToggle.addEventListener("click", () => {
    statsBox.hidden = !statsBox.hidden;
    statsToggle.setAttribute("aria-pressed", String(!statsBox.hidden));
    if (!statsBox.hidden && !statsBox.firstChild) statsBox.textContent = "Waiting for the first report…";
  });
  const problem = tile.querySelector(".tile-problem");
  problem.addEventListener("click", () => problem.classList.toggle("open"));
  const label = local ? "your video" : name;
  const pin = tile.querySelector(".tile-pin");
  pin.querySelector(".visually-hidden").textContent = `Pin ${label}`;
  pin.addEventListener("click", () => {
    const stage = tile.parentElement;
    const pinned = !tile.classList.contains("pinned");
    for (const t of stage.querySelectorAll(".tile.pinned")) setPinned(t, false);
    setPinned(tile, pinned);
    stage.dispatchEvent(new Event("tiles-changed"));
  });
  const full = tile.querySelector(".tile-fullscreen");
  full.querySelector(".visually-hidden").textContent = `Show ${label} full screen`;
  full.hidden = !document.fullscreenEnabled;
  full.addEventListener("click", () => {
    if (document.fullscreenElement === tile) document.exitFullscreen().catch(() => {});
    else tile.requestFullscreen().catch(() => {});
  });
  return tile;
}

function setPinned(tile, pinned) {
  tile.classList.toggle("pinned", pinned);
  const pin = tile.querySelector(".tile-pin");
  pin.setAttribute("aria-pressed", String(pinned));
  pin.title = pinned ? "Unpin" : "Pin: keep this tile large";
}

export function attachStream(tile, stream, local) {
  const video = tile.querySelector("video");
  if (video.srcObject !== stream) video.srcObject = stream;
  video.play().catch((err) => {
    if (local || err.name !== "NotAllowedError") return;
    // Autoplay with sound needs a user gesture (e.g. after autojoin):
    // play muted and offer a button to turn sound on.
    video.muted = true;
    tile.querySelector(".tile-unmute").hidden = false;
    video.play().catch(() => {});
  });
}

export function setTileStatus(tile, kind, text) {
  const el = tile.querySelector(".tile-status");
  el.dataset.state = kind;
  el.textContent = text;
}

/** Shows what failed and what to do ({title, hint}), or hides it (null). */
export function setTileProblem(tile, problem) {
  const box = tile.querySelector(".tile-problem");
  box.hidden = !problem;
  tile.classList.toggle("has-problem", !!problem);
  box.querySelector(".problem-title").textContent = problem ? problem.title : "";
  box.querySelector(".problem-hint").textContent = problem ? problem.hint : "";
}

export function setFlags(tile, { audio, video }) {
  if (!tile) return;
  const flags = tile.querySelector(".tile-flags");
  flags.replaceChildren();
  if (!audio) flags.append(flag("Muted"));
  if (!video) flags.append(flag("Video off"));
}

function flag(text) {
  const el = document.createElement("span");
  el.className = "flag";
  el.textContent = text;
  return el;
}

// Stage layout. Alone: your video and a card saying so. One remote peer:
// speaker view, theirs fills the stage and yours is a small overlay. More:
// a gallery with the column count that makes 16:9 tiles largest while all
// of them fit. A pinned tile fills the stage alone (yours stays as the
// overlay). On narrow screens the page scrolls instead, so only the width
// counts.
const narrowScreen = matchMedia("(max-width: 900px)");
const TILE_GAP = 12; // px, matches --gap in style.css

/**
 * Lays out the tiles of container now and whenever it or the screen
 * changes size; returns the function that does it, to call when tiles
 * come and go.
 */
export function watchLayout(container) {
  // Once per frame at most: measuring right after each DOM change would
  // force a reflow per tile when many peers come and go at once.
  let queued = false;
  const layout = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      layoutTiles(container);
    });
  };
  new ResizeObserver(layout).observe(container);
  narrowScreen.addEventListener("change", layout);
  container.addEventListener("tiles-changed", layout);
  return layout;
}

function layoutTiles(stage) {
  const tiles = [...stage.querySelectorAll(":scope > .tile")];
  const local = tiles.find((t) => t.classList.contains("local"));
  const remotes = tiles.filter((t) => t !== local);
  const pinned = tiles.find((t) => t.classList.contains("pinned")) || null;
  const mode = remotes.length === 0 ? "solo" : pinned ? "pinned" : remotes.length === 1 ? "speaker" : "grid";
  stage.dataset.layout = mode;
  stage.dataset.count = String(tiles.length);
  const card = stage.querySelector(".stage-card");
  if (card) card.hidden = mode !== "solo";
  local?.classList.toggle("pip", (mode === "speaker" || mode === "pinned") && pinned !== local);
  stage.classList.toggle("with-pip", !!local?.classList.contains("pip")); // layout.css moves the big tile's problem
  for (const t of remotes) t.classList.toggle("parked", mode === "pinned" && t !== pinned);
  if (mode === "pinned" && pinned === local) for (const t of remotes) t.classList.add("parked");
  const shown = [...stage.querySelectorAll(":scope > .tile:not(.pip):not(.parked), :scope > .stage-card:not([hidden])")];
  const n = Math.max(1, shown.length);
  const W = stage.clientWidth;
  const H = stage.clientHeight;
  if (W === 0) return; // hidden
  let best = { cols: 1, width: 0 };
  // A narrow screen stacks the tiles and scrolls, except while the chat
  // is open over the call: the stage then has the height above the chat
  // and the controls, and the tiles fit in it (layout.css).
  if (narrowScreen.matches && document.body.classList.contains("chat-closed")) {
    const cols = n === 1 ? 1 : W < 560 && n <= 3 ? 1 : 2;
    best = { cols, width: (W - TILE_GAP * (cols - 1)) / cols };
  } else {
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const byWidth = (W - TILE_GAP * (cols - 1)) / cols;
      const byHeight = ((H - TILE_GAP * (rows - 1)) / rows) * (16 / 9);
      const width = Math.min(byWidth, byHeight);
      if (width > best.width) best = { cols, width };
    }
  }
  stage.style.setProperty("--cols", String(best.cols));
  stage.style.setProperty("--tile-w", `${Math.floor(best.width)}px`);
}

/** Fills the stats overlay, when it is open, from a Peer's details. */
export function renderStats(tile, d) {
  const box = tile.querySelector(".tile-stats");
  if (box.hidden) return;
  const pair = d.localCandidateType ? `${d.localCandidateType} → ${d.remoteCandidateType}${d.protocol ? " (" + d.protocol.toUpperCase() + ")" : ""}` : "—";
  const rows = [
    ["Path", pair],
    ["RTT", d.rtt === null ? "—" : `${Math.round(d.rtt * 1000)} ms`],
    ["In", d.inKbps === null ? "—" : `${d.inKbps} kbit/s`],
    ["Out", d.outKbps === null ? "—" : `${d.outKbps} kbit/s`],
    ["Lost", `${d.lost} of ${d.lost + d.received} packets`],
  ];
  box.replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      return [dt, dd];
    }),
  );
}

/** Shows a peer connection's state on its tile: "Direct · 31 ms", "Relayed (UDP)"… */
export function renderPeerStatus(peer, tile) {
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
