// The page's signaling status: the pill in the header and, in a call, the
// outage banner with a live countdown to the next attempt and a
// "Reconnect now" button. Calls go on meanwhile: media flows peer to peer.

const TRANSPORT_LABELS = { ws: "WebSocket", sse: "Server-sent events", poll: "Long-polling" };
const TICK = 250; // ms between countdown updates
// A channel the server rotates (SSE max age, a drained WebSocket) comes
// back within milliseconds: chat is disabled only when that takes longer,
// or at once when an attempt failed (an outage with a countdown).
const OFFLINE_AFTER = 1500; // ms

export class ConnStatus {
  /**
   * @param {object} ui  pill, text, transport, banner, bannerText, reconnect
   * @param {import("../client/client.js").SignalingClient} signaling
   * @param {object} o   forced (a ?transport= was given), onOnline(online, why)
   */
  constructor(ui, signaling, { forced, onOnline }) {
    this.ui = ui;
    this.onOnline = onOnline;
    this.inCall = false;
    this.state = "idle";
    this._at = 0; // when the next attempt starts, while reconnecting
    this._downSince = 0; // when the channel stopped carrying the session
    this._offline = false; // chat disabled until the session is carried again
    this._timer = null;
    ui.transport.title = forced ? "Signaling channel (forced by ?transport=)" : "Signaling channel";
    ui.reconnect.addEventListener("click", () => signaling.reconnectNow());
    signaling.addEventListener("state", ({ detail }) => this._update(detail));
  }

  /** The banner only matters in a call; the lobby has the pill. */
  setInCall(inCall) {
    this.inCall = inCall;
    this._render();
  }

  get online() {
    return this.state === "open";
  }

  _update(d) {
    if (d.state === "open") this._downSince = 0;
    else if (this.state === "open" || !this._downSince) this._downSince = Date.now();
    this.state = d.state;
    this._at = d.state === "reconnecting" ? d.at || Date.now() + d.delay : 0;
    this._attempt = d.attempt || 0;
    this.ui.pill.dataset.state = d.state;
    this.ui.transport.textContent = TRANSPORT_LABELS[d.transport] || d.transport;
    this.ui.transport.dataset.transport = d.transport;
    this._render();
  }

  _render() {
    clearTimeout(this._timer);
    this._timer = null;
    const s = this.state;
    let pill;
    let banner = "";
    switch (s) {
      case "connecting":
        pill = this._attempt ? "Reconnecting…" : "Connecting…";
        banner = this._attempt ? "Reconnecting to the server…" : "";
        break;
      case "open":
        pill = "Connected";
        break;
      case "reconnecting": {
        const secs = Math.max(0, Math.ceil((this._at - Date.now()) / 1000));
        pill = `Connection lost, retrying in ${secs} s`;
        banner = `Lost the connection to the server. Retrying in ${secs} s.`;
        this._timer = setTimeout(() => this._render(), TICK);
        break;
      }
      default:
        pill = "Not connected";
    }
    // Once shown offline, it stays so until the session is carried again.
    if (s === "open") this._offline = false;
    else if (s !== "connecting") this._offline = true;
    let online = s === "open";
    if (s === "connecting" && !this._offline) {
      const left = OFFLINE_AFTER - (Date.now() - this._downSince);
      online = left > 0;
      if (online) this._timer = setTimeout(() => this._render(), left);
      else this._offline = true;
    }
    this.ui.text.textContent = pill;
    // A quick resume (a channel the server rotated) shows no banner.
    const show = this.inCall && banner !== "" && !online;
    this.ui.banner.hidden = !show;
    if (show && this.ui.bannerText.textContent !== banner) this.ui.bannerText.textContent = banner;
    this.ui.reconnect.disabled = s !== "reconnecting";
    this.onOnline(online, online ? "" : "Offline: chat comes back when the connection to the server does.");
  }
}
