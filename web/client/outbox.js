// Upstream: frames waiting for their turn, and getting them out on the
// channel in use. No DOM code.
//
// Token buckets keep the client below the server's per-session limits
// (50 frames/s, burst 100; 32 KiB/s, burst 256 KiB): a newcomer offering
// to 15 peers with trickled candidates would otherwise burst past them and
// have candidates dropped (or a POST refused with 429); frames wait in
// order instead. The queue belongs to the session, not to a channel:
// frames queued while a channel is down go out on the next one once the
// session is resumed.
//
// Every frame carries its number in the session ("cseq", 1, 2, …): the
// server handles each once, and its resumed notice says the last one it
// handled. Frames written into a WebSocket are kept until a pong or a
// resume says they were handled, and sent again when they were not; a
// POST whose answer was lost is sent again as it was. Only one write is
// ever on its way, across channels: a frame must not reach the server
// before an older one, which it would then skip.
//
// A frame the server refuses `unavailable` (an error carrying its cseq)
// was not handled: in a cluster whose Redis did not answer, a relay, or
// any frame after one still to come again. It goes again under its cseq,
// with every later one, after a backoff; the server relays a cseq once.

import { postFrames, PostError } from "./channels.js";

const encoder = new TextEncoder();

/** The most frames the server takes in one POST. */
export const MAX_BATCH = 256;

/** Frames the server relays to peers (the others it handles itself). */
const RELAYED = new Set(["offer", "answer", "candidate", "message"]);

// A frame refused unavailable goes again after RESEND_BACKOFF ms, doubled
// each time up to MAX_RESEND_BACKOFF (well within the server's 5 s wait
// for it), at most MAX_RESENDS times in a row: about 12 s in all, which
// covers a cluster's Redis paused for a few seconds.
const RESEND_BACKOFF = 250;
const MAX_RESEND_BACKOFF = 2000;
const MAX_RESENDS = 8;

export class Outbox {
  /**
   * @param {object} o
   * @param {number} o.rate      frames per second
   * @param {number} o.burst     bucket size
   * @param {number} o.byteRate  bytes per second
   * @param {number} o.byteBurst bytes bucket size
   * @param {number} o.limit     most frames kept waiting
   * @param {number} o.maxBytes  largest POST body
   * @param {(f: object) => void} o.answerError  an error frame from a POST answer
   * @param {(ch: object, err: Error) => void} o.failed  a POST did not complete
   * @param {(err: Error) => void} o.refused  a POST was refused as a whole (a client bug)
   */
  constructor(o) {
    this.o = o;
    this.items = []; // {text, bytes, cseq}, in cseq order
    this._sent = []; // written on a WebSocket, not yet known to be handled
    this._next = 0; // the last cseq given
    this._tokens = 0;
    this._bytes = 0;
    this._at = 0;
    this._timer = null;
    this._posting = null; // the channel a POST is in flight on: one at a time keeps order
    this._channel = null;
    this._token = null;
    this._epoch = 0; // bumped by clear(): answers of older POSTs are moot
    this._retrying = 0; // the cseq of the last frame refused unavailable and sent again
    this._retries = 0; // how often in a row
  }

  get length() {
    return this.items.length;
  }

  /** A new session starts with a full bucket on the server too. */
  refill() {
    this._tokens = this.o.burst;
    this._bytes = this.o.byteBurst;
    this._at = Date.now();
  }

  /** The cseq of the frame queued last. */
  get last() {
    return this._next;
  }

  /** Numbers an encoded frame (a JSON object) and queues it; false when the queue is full. */
  push(text) {
    if (this.items.length >= this.o.limit) return false;
    const cseq = ++this._next;
    const numbered = text.slice(0, -1) + (text.length > 2 ? "," : "") + `"cseq":${cseq}}`;
    this.items.push({ text: numbered, bytes: byteLength(numbered), cseq });
    this.flush();
    return true;
  }

  /** Drops every waiting frame (the session ended); the next session numbers from 1. */
  clear() {
    this.items = [];
    this._sent = [];
    this._next = 0;
    this._posting = null;
    this._retrying = 0;
    this._retries = 0;
    this._epoch++;
  }

  /** The server handled the frames up to cseq (a pong to the ping numbered so). */
  handled(cseq) {
    let n = 0;
    while (n < this._sent.length && this._sent[n].cseq <= cseq) n++;
    this._sent.splice(0, n);
    if (this._retrying <= cseq) this._retrying = this._retries = 0;
  }

  /**
   * An error frame of the WebSocket: true when it refuses unavailable a
   * frame written on it that goes again (nobody else is to hear of it).
   */
  refused(f) {
    return this._retryRefused(f, this._sent, true);
  }

  // Takes over an error that refuses a frame unavailable, held (written on
  // a WebSocket, or in the POST the error answers): the server did not
  // handle it (a relay whose fate it did not know, or any frame after one
  // that is to come again first) and handles it once when it comes again
  // under its cseq. That frame and every later one held go back to the
  // head of the queue, to be sent again after a backoff, up to
  // MAX_RESENDS times in a row; then the error is the caller's, as is any
  // other. True when it took f.
  _retryRefused(f, held, onSocket) {
    if (f.code !== "unavailable" || typeof f.cseq !== "number" || f.cseq <= 0) return false;
    if (this.items.some((i) => i.cseq === f.cseq)) return true; // refused with an older one: already going again
    const i = held.findIndex((q) => q.cseq === f.cseq);
    if (i < 0) return false;
    if (!relayed(held[i].text) && (this._retrying === 0 || f.cseq <= this._retrying)) {
      return false; // a frame the server handled (a join it could not do): its refusal stands
    }
    if (f.cseq === this._retrying) this._retries++;
    else {
      this._retrying = f.cseq;
      this._retries = 1;
    }
    if (this._retries > MAX_RESENDS) {
      this._retrying = this._retries = 0;
      return false;
    }
    const again = held.slice(i);
    if (onSocket) this._sent.splice(i);
    this._requeue(again);
    this._later(Math.min(RESEND_BACKOFF * 2 ** (this._retries - 1), MAX_RESEND_BACKOFF));
    return true;
  }

  /**
   * A channel resumed the session: the frames written on a WebSocket after
   * applied (the notice's; 0 when a poll says nothing, and the server skips
   * what it had) go again, ahead of newer ones.
   */
  resend(applied) {
    this.handled(applied);
    this._requeue(this._sent);
    this._sent = [];
  }

  // Puts frames to send again among the waiting ones, in cseq order.
  _requeue(frames) {
    if (frames.length === 0) return;
    const seen = new Set(this.items.map((i) => i.cseq));
    this.items = this.items.concat(frames.filter((f) => !seen.has(f.cseq))).sort((a, b) => a.cseq - b.cseq);
  }

  /**
   * Sends on ch (a channel carrying the session whose token this is) from
   * now on; null stops sending until the next call.
   */
  use(ch, token) {
    this._channel = ch;
    this._token = token;
    if (!ch) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    this.flush();
  }

  flush() {
    const ch = this._channel;
    if (!ch || !ch.writable || this._posting || this._timer) return;
    if (ch.kind === "ws") {
      for (const item of this._take(Infinity, Infinity)) {
        ch.sendText(item.text);
        this._sent.push(item);
      }
      if (this._sent.length > this.o.limit) this._sent.splice(0, this._sent.length - this.o.limit);
    } else {
      const batch = this._take(this.o.maxBytes, MAX_BATCH);
      if (batch.length > 0) this._post(ch, batch);
    }
    if (this.items.length > 0 && !this._posting) {
      const frames = ((1 - this._tokens) * 1000) / this.o.rate;
      const bytes = ((Math.min(this.items[0].bytes, this.o.byteBurst) - this._bytes) * 1000) / this.o.byteRate;
      this._later(Math.max(1, Math.ceil(Math.max(frames, bytes))));
    }
  }

  _later(ms) {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => {
      this._timer = null;
      this.flush();
    }, ms);
  }

  // Takes the frames that may go now: at most what the buckets allow, at
  // most maxBytes as one JSON array and at most most frames.
  _take(maxBytes, most) {
    const now = Date.now();
    const dt = (now - this._at) / 1000;
    this._tokens = Math.min(this.o.burst, this._tokens + dt * this.o.rate);
    this._bytes = Math.min(this.o.byteBurst, this._bytes + dt * this.o.byteRate);
    this._at = now;
    let n = 0;
    let body = 2; // the brackets of an array
    let sent = 0;
    while (n < this.items.length && n < most && n < Math.floor(this._tokens)) {
      const size = this.items[n].bytes;
      if (n > 0 && body + size + 1 > maxBytes) break;
      if (sent + Math.min(size, this.o.byteBurst) > this._bytes) break;
      body += size + (n > 0 ? 1 : 0);
      sent += size;
      n++;
    }
    this._tokens -= n;
    this._bytes -= sent;
    return this.items.splice(0, n);
  }

  // What piles up while a POST is in flight goes in the next one, on
  // whichever channel is in use once it ends. Errors for posted frames
  // come only in the answer.
  _post(ch, batch) {
    this._posting = ch;
    const epoch = this._epoch;
    const done = () => {
      this._posting = null;
      this.flush();
    };
    postFrames(ch.base, this._token, batch.map((i) => i.text), { ack: this.o.ack ? this.o.ack() : 0, room: ch.room }).then(
      (answers) => {
        if (epoch !== this._epoch) return; // the session ended meanwhile
        for (const a of answers) {
          if (a && typeof a === "object" && a.type === "error" && !this._retryRefused(a, batch, false)) this.o.answerError(a);
        }
        const r = this._retrying;
        if (r && batch[0].cseq <= r && r <= batch[batch.length - 1].cseq && !this.items.some((i) => i.cseq === r)) {
          this._retrying = this._retries = 0; // it went through
        }
        done(); // a backoff, if one runs, holds the flush
      },
      (err) => {
        if (epoch !== this._epoch) return;
        if (err instanceof PostError && (err.status === 400 || err.status === 413)) {
          this.o.refused(err);
          done();
          return;
        }
        if (err instanceof PostError && err.status === 429) {
          // Over the byte budget: nothing was read. Try again later.
          this._requeue(batch);
          this._bytes = 0;
          this._posting = null;
          this._later(1000);
          return;
        }
        // Unknown whether it arrived: send again once the session is
        // resumed, even when the channel died meanwhile; the server skips
        // what it handled (cseq). A 401 means the session is gone; the
        // resume will tell.
        this._requeue(batch);
        this._posting = null;
        if (this._channel === ch) this.o.failed(ch, err);
        else this.flush();
      },
    );
  }
}

/** Whether text (a frame as JSON) is one the server relays to peers. */
function relayed(text) {
  try {
    return RELAYED.has(JSON.parse(text).type);
  } catch {
    return false;
  }
}

/** UTF-8 length of s. */
export function byteLength(s) {
  let ascii = true;
  for (let i = 0; i < s.length && ascii; i++) ascii = s.charCodeAt(i) < 0x80;
  return ascii ? s.length : encoder.encode(s).length;
}
