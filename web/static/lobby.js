// The pre-join screen: camera preview, microphone level, camera and
// microphone pickers, the display name and the room with its link. The
// media it starts is handed to the call on join (no second prompt).

import { acquireMedia } from "./media.js";
import { mediaProblem } from "./permission.js";
import { randomRoomName } from "./util.js";
import { MicMeter } from "./meter.js";
import { showNotice, copyText } from "./notice.js";

const NAME_KEY = "switchboard.name";
const LOCK_PREFIX = "switchboard.name:";

export class Lobby {
  /**
   * @param {object} ui  preview, previewStatus, meter, notice, retry, camera, mic,
   *                     room, name, nameHelp, copy
   * @param {object} o   params (URLSearchParams), state (window.switchboard), log
   */
  constructor(ui, { params, state, log }) {
    this.ui = ui;
    this.state = state;
    this.log = log;
    this.media = null; // the preview's acquireMedia result, until taken
    this._pending = null; // the acquisition under way
    this._meter = new MicMeter((level) => {
      ui.meter.value = level;
      state.micLevel = level;
      state.micPeak = Math.max(state.micPeak || 0, level);
    });
    this._releaseName = null;
    ui.room.value = params.get("room") || randomRoomName();
    const fit = () => fitText(ui.room);
    ui.room.addEventListener("input", fit);
    addEventListener("resize", fit);
    requestAnimationFrame(fit); // once the lobby is laid out
    ui.retry.addEventListener("click", () => this.start());
    ui.camera.addEventListener("change", () => this.start());
    ui.mic.addEventListener("change", () => this.start());
    ui.copy.addEventListener("click", () => copyText(ui.copy, this.link()));
    this._suggestName(params.get("name"));
  }

  /** The invite link of the room in the form. */
  link() {
    const url = new URL("/", location.href);
    url.searchParams.set("room", this.ui.room.value.trim());
    return url.href;
  }

  /** (Re)starts the preview with the picked devices. */
  start() {
    const ui = this.ui;
    const run = (async () => {
      await this._pending?.catch(() => {});
      this._dropMedia();
      ui.previewStatus.hidden = false;
      ui.previewStatus.textContent = "Starting camera…";
      this.state.acquisitions = (this.state.acquisitions || 0) + 1; // camera prompts, for tests
      const media = await acquireMedia(ui.name.value.trim() || "Guest", { videoDevice: ui.camera.value, audioDevice: ui.mic.value });
      if (this._pending !== run) {
        media.stop(); // started again meanwhile
        return;
      }
      this.media = media;
      this.state.mediaMode = media.mode;
      this.log("preview:", media.mode, "-", media.description, media.error ? `(${media.error})` : "");
      ui.preview.srcObject = media.stream;
      ui.preview.classList.toggle("mirror", media.cameraVideo);
      ui.preview.play().catch(() => {});
      ui.previewStatus.hidden = media.cameraVideo;
      ui.previewStatus.textContent = media.description;
      const problem = mediaProblem(media);
      this.state.mediaProblem = problem ? problem.code : null;
      showNotice(ui.notice, ui.retry, problem);
      this._meter.watch(media.stream);
      await this._listDevices(media);
    })();
    this._pending = run;
    return run;
  }

  /** Hands the preview's media to the call; the lobby lets go of it. */
  async takeMedia() {
    // The preview under way (started on load) is the one to take: a
    // second start would ask for the camera again.
    if (!this.media && !this._pending) this.start();
    await this._pending;
    if (!this.media) await this.start(); // superseded meanwhile
    const media = this.media;
    this.media = null;
    this._pending = null;
    this._meter.watch(null);
    this.ui.preview.srcObject = null;
    return media;
  }

  /** The devices the user picked, for a retry in the call. */
  get devices() {
    return { videoDevice: this.ui.camera.value, audioDevice: this.ui.mic.value };
  }

  /**
   * The name is this tab's: a lock named after it is held while in a call,
   * so another tab of the same browser does not start with it filled in
   * (two tabs in one room as "Ada" cannot be told apart).
   */
  async holdName(name) {
    this._releaseName?.();
    this._releaseName = null;
    try {
      sessionStorage.setItem(NAME_KEY, name);
      localStorage.setItem(NAME_KEY, name);
    } catch {
      // Storage may be disabled; the name is just not remembered.
    }
    if (!name || !navigator.locks) return;
    navigator.locks.request(LOCK_PREFIX + name, () => new Promise((resolve) => (this._releaseName = resolve))).catch(() => {});
  }

  releaseName() {
    this._releaseName?.();
    this._releaseName = null;
  }

  _dropMedia() {
    this._meter.watch(null);
    this.ui.preview.srcObject = null;
    this.media?.stop();
    this.media = null;
  }

  async _suggestName(fromURL) {
    const ui = this.ui;
    if (fromURL) {
      ui.name.value = fromURL;
      return;
    }
    const read = (store) => {
      try {
        return store.getItem(NAME_KEY) || "";
      } catch {
        return "";
      }
    };
    const own = read(sessionStorage); // this tab's, kept over a reload
    if (own) {
      ui.name.value = own;
      return;
    }
    const saved = read(localStorage);
    if (!saved) return;
    let inUse = false;
    try {
      const { held = [] } = (await navigator.locks?.query()) || {};
      inUse = held.some((l) => l.name === LOCK_PREFIX + saved);
    } catch {
      // No Web Locks: suggest it anyway.
    }
    if (ui.name.value !== "") return; // typed meanwhile
    if (inUse) {
      ui.nameHelp.hidden = false;
      ui.nameHelp.textContent = `${saved} is in a call in another tab: pick a name the others can tell apart.`;
      return;
    }
    ui.name.value = saved;
  }

  async _listDevices(media) {
    const md = navigator.mediaDevices;
    if (!md?.enumerateDevices) return;
    let devices = [];
    try {
      devices = await md.enumerateDevices();
    } catch {
      return;
    }
    const current = (kind) => media.stream?.getTracks().find((t) => t.kind === kind)?.getSettings().deviceId || "";
    fill(this.ui.camera, devices.filter((d) => d.kind === "videoinput"), current("video"), "Camera");
    fill(this.ui.mic, devices.filter((d) => d.kind === "audioinput"), current("audio"), "Microphone");
  }
}

function fill(select, devices, current, noun) {
  const labelled = devices.filter((d) => d.deviceId);
  select.replaceChildren(
    ...labelled.map((d, i) => {
      const o = document.createElement("option");
      o.value = d.deviceId;
      o.textContent = d.label || `${noun} ${i + 1}`;
      o.selected = d.deviceId === current;
      return o;
    }),
  );
  if (labelled.length === 0) {
    const o = document.createElement("option");
    o.value = "";
    o.textContent = `No ${noun.toLowerCase()} available`;
    select.append(o);
  }
  select.disabled = labelled.length === 0;
}

const MIN_FONT_PX = 12;

/**
 * Shrinks an input's text until its value shows whole, down to
 * MIN_FONT_PX: a generated room name (two words and 21 random letters)
 * is wider than a phone's field at the page's font size, and a name cut
 * off is one nobody can read out or check.
 */
export function fitText(input) {
  input.style.fontSize = "";
  let size = parseFloat(getComputedStyle(input).fontSize);
  while (input.scrollWidth > input.clientWidth && size > MIN_FONT_PX) {
    size = Math.max(MIN_FONT_PX, size - 0.5);
    input.style.fontSize = size + "px";
  }
}
