// An EventSource on fetch, for runtimes without one (Node 20): the subset
// channels.js uses, with the browser's behaviour where it matters to it.
// No DOM code.
//
// Like the browser's (https://html.spec.whatwg.org/multipage/server-sent-events.html):
// an answer other than 200 text/event-stream fails the source for good
// (readyState CLOSED, then onerror); a stream that ends or breaks after
// it opened reconnects by itself after the server's retry: delay, sending
// the last id seen as Last-Event-ID, with onerror while CONNECTING; a
// connection that cannot be made at all is retried the same way.

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;
const DEFAULT_RETRY = 3000; // ms, until the server sends retry:

export class FetchEventSource {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSED = CLOSED;

  /** @param {string} url */
  constructor(url) {
    this.url = url;
    this.readyState = CONNECTING;
    this.onopen = null;
    this.onmessage = null;
    this.onerror = null;
    this._lastId = "";
    this._retry = DEFAULT_RETRY;
    this._abort = null;
    this._timer = null;
    this._connect();
  }

  close() {
    this.readyState = CLOSED;
    clearTimeout(this._timer);
    if (this._abort) this._abort.abort();
  }

  async _connect() {
    const ac = new AbortController();
    this._abort = ac;
    const headers = { Accept: "text/event-stream" };
    if (this._lastId) headers["Last-Event-ID"] = this._lastId;
    let resp;
    try {
      resp = await fetch(this.url, { headers, cache: "no-store", signal: ac.signal });
    } catch {
      this._reconnect();
      return;
    }
    if (this.readyState === CLOSED) return void resp.body?.cancel().catch(() => {});
    const type = resp.headers.get("content-type") || "";
    if (resp.status !== 200 || !type.startsWith("text/event-stream")) {
      resp.body?.cancel().catch(() => {});
      this.readyState = CLOSED;
      this._call("onerror", new Event("error"));
      return;
    }
    this.readyState = OPEN;
    this._call("onopen", new Event("open"));
    try {
      await this._read(resp.body);
    } catch {
      // a broken stream reconnects like an ended one
    }
    this._reconnect();
  }

  _reconnect() {
    if (this.readyState === CLOSED) return;
    this.readyState = CONNECTING;
    this._call("onerror", new Event("error"));
    if (this.readyState === CLOSED) return; // onerror closed it
    this._timer = setTimeout(() => this._connect(), this._retry);
  }

  // Parses the stream line by line: data lines gather into one message,
  // dispatched at the blank line; id and retry set the reconnect's state;
  // comments (heartbeats) are skipped.
  async _read(body) {
    const decoder = new TextDecoder();
    let buf = "";
    let data = [];
    let id = this._lastId;
    for await (const chunk of body) {
      if (this.readyState === CLOSED) return;
      buf += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          this._lastId = id;
          if (data.length > 0) {
            const ev = new MessageEvent("message", { data: data.join("\n"), lastEventId: id, origin: new URL(this.url).origin });
            data = [];
            this._call("onmessage", ev);
            if (this.readyState === CLOSED) return;
          }
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") data.push(value);
        else if (field === "id" && !value.includes("\0")) id = value;
        else if (field === "retry" && /^\d+$/.test(value)) this._retry = Number(value);
      }
    }
  }

  _call(handler, ev) {
    const f = this[handler];
    if (typeof f === "function") f.call(this, ev);
  }
}
