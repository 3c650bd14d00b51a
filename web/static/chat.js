// The chat panel of the demo page: the log, the input (disabled, with the
// reason, while signaling is offline), and the panel's toggle with a count
// of unread messages. Phones start with the panel closed: it opens over
// the call, so new messages are never below the fold unseen.

import { ChatLog } from "./chatlog.js";

export const MAX_CHAT_TEXT = 2000; // characters; frames are capped at 64 KiB
const MAX_CHAT_LOG = 500; // messages kept on screen

export class ChatPanel {
  /**
   * @param {object} ui     log, form, input, send, offline (the reason line),
   *                        panel, toggle, close, unread
   * @param {object[]} kept state.chat: {from, name, text, at}, for tests
   * @param {(text: string) => boolean} send  hands text to signaling
   */
  constructor(ui, kept, send) {
    this.ui = ui;
    this.kept = kept;
    this.send = send;
    this.log = new ChatLog(ui.log, MAX_CHAT_LOG);
    this.self = { id: null, name: "" };
    this.unread = 0;
    this.open = !matchMedia("(max-width: 900px)").matches;
    ui.toggle.addEventListener("click", () => this.setOpen(!this.open));
    ui.close.addEventListener("click", () => {
      this.setOpen(false);
      ui.toggle.focus();
    });
    this.setOpen(this.open);
    ui.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (this.sendText(ui.input.value)) ui.input.value = "";
      ui.input.focus();
    });
  }

  clear() {
    this.log.clear();
    this.kept.length = 0;
  }

  /** Sends text to the whole room; returns false when nothing was sent. */
  sendText(text) {
    text = String(text).trim().slice(0, MAX_CHAT_TEXT);
    if (!text) return false;
    if (!this.send({ kind: "chat", text })) {
      this.system("Not connected: message not sent");
      return false;
    }
    this.add(this.self.id, this.self.name, text, true);
    return true;
  }

  /** Shows or hides the panel; showing it marks everything read. */
  setOpen(open) {
    const { panel, toggle } = this.ui;
    this.open = open;
    document.body.classList.toggle("chat-closed", !open);
    toggle.setAttribute("aria-expanded", String(open));
    toggle.dataset.off = String(!open);
    if (open) {
      this.unread = 0;
      this.ui.log.scrollTop = this.ui.log.scrollHeight;
    }
    this._renderUnread();
    panel.dataset.open = String(open);
  }

  _renderUnread() {
    const { unread, toggle } = this.ui;
    unread.hidden = this.unread === 0;
    unread.textContent = this.unread > 99 ? "99+" : String(this.unread);
    const label = this.open ? "Hide chat" : this.unread ? `Show chat, ${this.unread} unread` : "Show chat";
    toggle.title = label;
    toggle.setAttribute("aria-label", label);
  }

  add(from, name, text, mine) {
    if (!mine && !this.open) {
      this.unread++;
      this._renderUnread();
    }
    this.kept.push({ from, name: name || "", text: text.slice(0, MAX_CHAT_TEXT), at: Date.now() });
    if (this.kept.length > MAX_CHAT_LOG) this.kept.shift();
    this.log.add({ from, name, text: text.slice(0, MAX_CHAT_TEXT), mine });
  }

  system(text) {
    this.log.system(text);
  }

  /** Offline, the input says why it is disabled instead of failing on send. */
  setOnline(online, why) {
    const { input, send, offline } = this.ui;
    const hadFocus = document.activeElement === input;
    input.disabled = send.disabled = !online;
    input.placeholder = online ? "Message everyone" : "Offline";
    offline.hidden = online;
    offline.textContent = why;
    if (online && hadFocus) input.focus();
  }
}
