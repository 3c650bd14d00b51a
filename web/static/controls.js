// The call's own media controls: microphone and camera on/off (buttons
// and the M and V keys), and screen sharing, which replaces the camera's
// track in every connection and gives it back when the share ends.

export class MediaControls {
  /**
   * @param {object} ui  mic, cam, share (buttons)
   * @param {object} o
   * @param {() => object|null} o.media      the acquireMedia result in use
   * @param {(kind: string, track: MediaStreamTrack|null, stream: MediaStream) => void} o.send
   *        puts track on every connection
   * @param {(stream: MediaStream, mirror: boolean) => void} o.show  shows stream on the local tile
   * @param {(state: {audio: boolean, video: boolean}) => void} o.changed  mic or camera switched
   * @param {() => boolean} o.inCall
   * @param {object} o.state  window.switchboard (screenSharing)
   * @param {(...args) => void} o.log
   */
  constructor(ui, o) {
    this.ui = ui;
    this.o = o;
    this.micOn = true;
    this.camOn = true;
    this._share = null; // {stream, track} while sharing
    ui.mic.addEventListener("click", () => this.toggle("audio"));
    ui.cam.addEventListener("click", () => this.toggle("video"));
    ui.share.addEventListener("click", () => (this._share ? this.stopShare() : this.startShare()));
    ui.share.hidden = !navigator.mediaDevices?.getDisplayMedia;
    document.addEventListener("keydown", (ev) => this._key(ev));
  }

  /** The stream new connections send: the screen while sharing. */
  get outgoing() {
    return this._share ? this._share.stream : this.o.media()?.stream || null;
  }

  reset() {
    this.micOn = this.camOn = true;
    this._share = null;
    this.o.state.screenSharing = false;
    this.render();
  }

  toggle(kind) {
    if (kind === "audio") this.micOn = !this.micOn;
    else this.camOn = !this.camOn;
    this.apply();
    this.o.changed({ audio: this.micOn, video: this.camOn });
  }

  /** Enables the media's tracks as the toggles say (also after a swap). */
  apply() {
    for (const t of this.o.media()?.stream?.getTracks() || []) t.enabled = t.kind === "audio" ? this.micOn : this.camOn;
    this.render();
  }

  render() {
    const stream = this.o.media()?.stream;
    const { mic, cam, share } = this.ui;
    mic.disabled = !stream?.getAudioTracks().length;
    cam.disabled = !stream?.getVideoTracks().length;
    // The label says what a press does; data-off styles the button and
    // crosses out its icon.
    mic.dataset.off = String(!this.micOn);
    cam.dataset.off = String(!this.camOn);
    setLabel(mic, this.micOn ? "Mute" : "Unmute", this.micOn ? "Turn microphone off (M)" : "Turn microphone on (M)");
    setLabel(cam, this.camOn ? "Stop video" : "Start video", this.camOn ? "Turn camera off (V)" : "Turn camera on (V)");
    share.setAttribute("aria-pressed", String(!!this._share));
    setLabel(share, this._share ? "Stop sharing" : "Share screen", this._share ? "Stop sharing your screen" : "Show your screen instead of your camera");
  }

  async startShare() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (err) {
      this.o.log("screen share refused:", err.name, err.message);
      return;
    }
    const track = stream.getVideoTracks()[0];
    if (!this.o.inCall() || !track) {
      for (const t of stream.getTracks()) t.stop();
      return;
    }
    const audio = this.o.media()?.stream?.getAudioTracks() || [];
    this._share = { stream: new MediaStream([...audio, track]), track };
    track.addEventListener("ended", () => this.stopShare()); // the browser's own "Stop sharing"
    this.o.send("video", track, this._share.stream);
    this.o.show(this._share.stream, false);
    this.o.state.screenSharing = true;
    this.render();
  }

  stopShare() {
    const share = this._share;
    if (!share) return;
    this._share = null;
    share.track.stop();
    const media = this.o.media();
    if (media?.stream) {
      this.o.send("video", media.stream.getVideoTracks()[0] || null, media.stream);
      this.o.show(media.stream, media.cameraVideo);
    }
    this.o.state.screenSharing = false;
    this.render();
  }

  // M and V as in most call apps; never while typing, nor with modifiers
  // (browser shortcuts).
  _key(ev) {
    if (!this.o.inCall() || ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    const el = ev.target;
    if (el instanceof HTMLElement && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName))) return;
    const key = ev.key.toLowerCase();
    if (key === "m" && !this.ui.mic.disabled) this.toggle("audio");
    else if (key === "v" && !this.ui.cam.disabled) this.toggle("video");
    else return;
    ev.preventDefault();
  }
}

function setLabel(button, label, tip) {
  button.querySelector(".label").textContent = label;
  button.title = tip;
}
