// The chat list of the demo page. Text goes in as textContent only.

import { displayName, formatTime } from "./util.js";

export class ChatLog {
  /**
   * @param {HTMLOListElement} list  the <ol> to fill
   * @param {number} max             messages kept on screen
   */
  constructor(list, max) {
    this.list = list;
    this.max = max;
  }

  clear() {
    this.list.replaceChildren();
  }

  /** A message from a peer, or ours when mine. */
  add({ from, name, text, mine }) {
    const li = document.createElement("li");
    li.className = mine ? "msg mine" : "msg";
    const meta = document.createElement("div");
    meta.className = "msg-meta";
    const who = document.createElement("span");
    who.className = "msg-name";
    who.textContent = mine ? "You" : displayName(name, from);
    const when = document.createElement("time");
    const now = new Date();
    when.dateTime = now.toISOString();
    when.textContent = formatTime(now);
    meta.append(who, when);
    const body = document.createElement("p");
    body.className = "msg-text";
    body.textContent = text;
    li.append(meta, body);
    this._append(li);
  }

  /** A line from the page itself: joins, leaves, reconnects. */
  system(text) {
    const li = document.createElement("li");
    li.className = "msg system";
    li.textContent = text;
    this._append(li);
  }

  _append(li) {
    const log = this.list;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(li);
    while (log.children.length > this.max) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }
}
