// The three channels that can carry a signaling session (docs/protocol.md,
// "Channels"): WebSocket, server-sent events and long-polling, the last two
// with POST /v1/send upstream. No DOM code.
//
// A channel is created for one attempt and reports to its owner through
// hooks; it never calls them after close():
//   frame(f)      one parsed downstream message, in order
//   ready()       poll only: the first answer arrived (a resume that
//                 succeeded has no "resumed" notice on polling)
//   end(info)     the channel ended by itself: {code, reason, replaced,
//                 resumeNow, server}; server: the server ended it and said
//                 why (a close code, an error notice, a poll's coded
//                 answer), so it was reachable on this channel
//   cursor()      {token, after}: the session to attach to (token null for a
//                 new one) and the last seq processed; read on every (re)open
//   probing()     true while another channel tries to take the session
//                 over: the channel ends (end()) rather than attach again
//                 by itself (an event stream's reconnect, the next poll)
//
// A channel offers kind ("ws", "sse", "poll"), base (the origin it talks
// to), room (its routing key), writable (frames can go now) and close(bye).
// WebSocket frames go with sendText(text); the others post with
// postFrames(ch.base, …, {room: ch.room}).
//
// room= goes in the URL of every request of a channel, so a load balancer
// can keep a room's peers on one node (docs/cluster.md). A channel keeps
// the room it opened with for all its requests, even once the session
// joins one: an event stream and its POSTs must reach the same node, or
// each POST would move the session.

import { FetchEventSource } from "./eventsource.js";

const WS_CLOSE_RESUME = 4000; // the server ended an old socket: resume at once
const WS_CLOSE_REPLACED = 4001; // another channel took over the session

// An error notice (no seq) other than resume_failed, whose new session's
// welcome follows on the same channel, is the server ending an SSE stream
// (replaced, resume, shutdown, slow_consumer, bye, ...); a poll gets the
// same as a 409 or 410 answer.
const endsStream = (f) => f.type === "error" && f.seq === undefined && f.code !== "resume_failed";

function ending(code, status) {
  return { code: status, reason: code, replaced: code === "replaced", resumeNow: code === "resume", server: true };
}

// Close codes no server sends: the connection failed (1006), or ended
// without a close frame (1005, 1015).
const WS_CLOSE_NOT_SENT = new Set([1005, 1006, 1015]);

/** The http(s) origin of a ws(s)://, http(s):// URL or path of the server. */
export function httpBase(url) {
  const u = new URL(url, globalThis.location ? globalThis.location.href : undefined);
  if (u.protocol === "ws:") u.protocol = "http:";
  if (u.protocol === "wss:") u.protocol = "https:";
  return u.origin;
}

function endpoint(base, path, { token, after } = {}, room = null, ws = false) {
  const u = new URL(path, base);
  if (ws) u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  if (room) u.searchParams.set("room", room);
  if (token) {
    u.searchParams.set("token", token);
    u.searchParams.set("after", String(after || 0));
  }
  return u.href;
}

function parse(text) {
  try {
    const f = JSON.parse(text);
    return f && typeof f === "object" && typeof f.type === "string" ? f : null;
  } catch {
    return null;
  }
}

/** A refusal of POST /v1/send as a whole (HTTP status other than 200). */
export class PostError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.name = "PostError";
    this.status = status;
    this.code = code;
  }
}

/**
 * Posts encoded frames (strings) as one JSON array to /v1/send, with ack,
 * the seq of the last event handled, as Last-Event-ID. Resolves
 * with the answer: one entry per frame, null or the error frame it earned.
 * Rejects with a PostError for an HTTP refusal, a TypeError when the
 * request did not complete.
 */
export async function postFrames(base, token, texts, { keepalive = false, signal, ack = 0, room = null } = {}) {
  const headers = { Authorization: "Bearer " + token, "Content-Type": "application/json" };
  // The last event handled: the server may forget it and what came before.
  if (ack > 0) headers["Last-Event-ID"] = String(ack);
  const resp = await fetch(endpoint(base, "/v1/send", {}, room), {
    method: "POST",
    headers,
    body: "[" + texts.join(",") + "]",
    cache: "no-store",
    keepalive,
    signal,
  });
  const body = await resp.json().catch(() => null);
  if (!resp.ok) throw new PostError(resp.status, (body && body.code) || "http_" + resp.status, body && body.message);
  if (!Array.isArray(body)) throw new PostError(resp.status, "bad_answer", "POST /v1/send answered no array");
  return body;
}

const OPEN = 1; // WebSocket.OPEN, EventSource.OPEN
const CLOSED = 2; // EventSource.CLOSED

export class WsChannel {
  /** Socket: the WebSocket constructor (the browser's, or one for Node such as the ws package's). */
  constructor(base, hooks, room, Socket = globalThis.WebSocket) {
    if (typeof Socket !== "function") throw new TypeError("no WebSocket here: pass options.WebSocket, or transports without \"ws\"");
    this.kind = "ws";
    this.base = base;
    this.room = room;
    this._hooks = hooks;
    this._closed = false;
    const ws = new Socket(endpoint(base, "/v1/ws", hooks.cursor(), room, true));
    this._ws = ws;
    ws.onmessage = (ev) => {
      const f = parse(ev.data);
      if (f && !this._closed) hooks.frame(f);
    };
    ws.onclose = (ev) => {
      if (this._closed) return;
      this._closed = true;
      hooks.end({
        code: ev.code,
        reason: ev.reason,
        replaced: ev.code === WS_CLOSE_REPLACED,
        resumeNow: ev.code === WS_CLOSE_RESUME,
        server: ev.code >= 1000 && !WS_CLOSE_NOT_SENT.has(ev.code),
      });
    };
    // onerror is always followed by onclose, which does the work; without
    // a listener the ws package (Node) throws a failed connect's error.
    ws.onerror = () => {};
  }

  get writable() {
    return !this._closed && this._ws.readyState === OPEN;
  }

  sendText(text) {
    this._ws.send(text);
  }

  /**
   * Ends the channel without calling end(). bye closes with 1000, which
   * ends the session; otherwise the close carries no code and the session
   * only detaches, ready to be resumed.
   */
  close(bye = false) {
    this._closed = true;
    const ws = this._ws;
    ws.onmessage = ws.onclose = null;
    if (bye) ws.close(1000, "bye");
    else ws.close();
  }
}

export class SseChannel {
  /** Source: the EventSource constructor; where there is none (Node), FetchEventSource. */
  constructor(base, hooks, room, Source = globalThis.EventSource || FetchEventSource) {
    this._Source = Source;
    this.kind = "sse";
    this.base = base;
    this.room = room;
    this._hooks = hooks;
    this._closed = false;
    this._token = null;
    this._open();
  }

  get writable() {
    return !this._closed;
  }

  // The browser reconnects an EventSource by itself after the server ends
  // the stream (-sse-max-age), sending Last-Event-ID: that is a normal
  // resume and stays inside this channel. A stream that fails again before
  // it opens, or that the browser gives up on, ends the channel, so the
  // owner's backoff and fallback take over from the browser's fixed retry.
  _open() {
    const cursor = this._hooks.cursor();
    this._token = cursor.token;
    const es = new this._Source(endpoint(this.base, "/v1/sse", cursor, this.room));
    this._es = es;
    let healthy = false;
    es.onopen = () => {
      healthy = true;
    };
    es.onmessage = (ev) => {
      if (this._es !== es || this._closed) return;
      healthy = true;
      const f = parse(ev.data);
      if (!f) return;
      if (endsStream(f)) {
        this._end(ending(f.code, f.code === "replaced" ? WS_CLOSE_REPLACED : 0));
        return;
      }
      this._hooks.frame(f);
    };
    es.onerror = () => {
      if (this._es !== es || this._closed) return;
      if (es.readyState === CLOSED || !healthy) {
        this._end({ code: 0, reason: "event stream failed" });
        return;
      }
      if (this._hooks.probing()) {
        this._end({ code: 0, reason: "event stream ended", server: true });
        return;
      }
      healthy = false; // the browser is reconnecting
    };
  }

  /**
   * Reopens the stream when the session's token changed (a welcome on a
   * tokenless stream, or after resume_failed): an EventSource cannot set
   * headers, so the token goes in its URL, and the browser's own
   * reconnects then resume the right session.
   */
  rebind(token) {
    if (this._closed || token === this._token) return;
    this._detach();
    this._open();
  }

  _detach() {
    const es = this._es;
    es.onopen = es.onmessage = es.onerror = null;
    es.close();
  }

  _end(info) {
    this._closed = true;
    this._detach();
    this._hooks.end(info);
  }

  close() {
    if (this._closed) return;
    this._closed = true;
    this._detach();
  }
}

export class PollChannel {
  /** timeout: ms after which a poll that has not answered counts as failed. */
  constructor(base, hooks, { timeout, room }) {
    this.kind = "poll";
    this.base = base;
    this.room = room;
    this._hooks = hooks;
    this._timeout = timeout;
    this._closed = false;
    this._abort = null;
    this._loop();
  }

  get writable() {
    return !this._closed;
  }

  async _loop() {
    let first = true;
    while (!this._closed) {
      const cursor = this._hooks.cursor();
      const ac = new AbortController();
      this._abort = ac;
      const timer = setTimeout(() => ac.abort(), this._timeout);
      if (first && cursor.token) {
        // A resuming poll is held until an event comes: make one (a pong),
        // so a resume is confirmed at once, not after -poll-wait.
        postFrames(this.base, cursor.token, ['{"type":"ping"}'], { signal: ac.signal, room: this.room }).catch(() => {});
      }
      let body;
      try {
        const resp = await fetch(endpoint(this.base, "/v1/poll", cursor, this.room), { cache: "no-store", signal: ac.signal });
        if (this._closed) return;
        body = await resp.json().catch(() => null);
        if (this._closed) return;
        if (resp.status === 409) {
          this._end(ending("replaced", WS_CLOSE_REPLACED));
          return;
        }
        if (!resp.ok || !Array.isArray(body)) {
          // A coded answer is the server's; anything else may be a proxy's.
          const code = body && typeof body.code === "string" ? body.code : "";
          this._end({ ...ending(code || "poll answered " + resp.status, resp.status), server: code !== "" });
          return;
        }
      } catch (err) {
        if (!this._closed) this._end({ code: 0, reason: ac.signal.aborted ? "poll timed out" : "poll failed" });
        return;
      } finally {
        clearTimeout(timer);
      }
      for (const f of body) {
        if (this._closed) return;
        if (f && typeof f === "object" && typeof f.type === "string") this._hooks.frame(f);
      }
      if (first && !this._closed) {
        first = false;
        this._hooks.ready();
      }
      if (!this._closed && this._hooks.probing()) {
        this._end({ code: 0, reason: "poll answered", server: true });
        return;
      }
    }
  }

  _end(info) {
    this._closed = true;
    this._hooks.end(info);
  }

  close() {
    if (this._closed) return;
    this._closed = true;
    if (this._abort) this._abort.abort();
  }
}

/**
 * Opens a channel of kind "ws", "sse" or "poll"; room (or null) routes all
 * its requests. WebSocket and EventSource override the global constructors.
 */
export function openChannel(kind, base, hooks, { pollTimeout, room = null, WebSocket, EventSource }) {
  if (kind === "ws") return new WsChannel(base, hooks, room, WebSocket || globalThis.WebSocket);
  if (kind === "sse") return new SseChannel(base, hooks, room, EventSource || globalThis.EventSource || FetchEventSource);
  return new PollChannel(base, hooks, { timeout: pollTimeout, room });
}

/**
 * The origin a client may move its session to when joined names the
 * room's owner node (docs/protocol.md, "Rooms"), or null to stay. The
 * rule: a WebSocket only (the server sends no CORS headers, so an event
 * stream or a poll could not read another origin's answers); an http(s)
 * or ws(s) URL; never from https down to http; and the owner's host is the
 * home server's host (any port) or a subdomain of it, so a page only
 * follows to machines of the site that served it. home is the origin the
 * client was given.
 */
export function ownerOrigin(owner, home, kind) {
  if (kind !== "ws" || typeof owner !== "string" || owner === "") return null;
  let u;
  try {
    u = new URL(httpBase(owner));
  } catch {
    return null;
  }
  const h = new URL(home);
  if (u.protocol !== "http:" && u.protocol !== "https:") return null;
  if (h.protocol === "https:" && u.protocol !== "https:") return null;
  if (u.hostname !== h.hostname && !u.hostname.endsWith("." + h.hostname)) return null;
  return u.origin === h.origin ? null : u.origin;
}
