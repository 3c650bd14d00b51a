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

import { postFrames, PostError } from "./channels.js";

const encoder = new TextEncoder();

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
    this.items = []; // {text, bytes}
    this._tokens = 0;
    this._bytes = 0;
    this._at = 0;
    this._timer = null;
    this._posting = null; // the channel a POST is in flight on: one at a time keeps order
    this._channel = null;
    this._token = null;
    this._epoch = 0; // bumped by clear(): answers of older POSTs are moot
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

  /** Queues an encoded frame; false when the queue is full. */
  push(text) {
    if (this.items.length >= this.o.limit) return false;
    this.items.push({ text, bytes: byteLength(text) });
    this.flush();
    return true;
  }

  /** Drops every waiting frame (the session ended). */
  clear() {
    this.items = [];
    this._epoch++;
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
      this._posting = null;
    }
    this.flush();
  }

  flush() {
    const ch = this._channel;
    if (!ch || !ch.writable || this._posting || this._timer) return;
    if (ch.kind === "ws") {
      for (const item of this._take(Infinity)) ch.sendText(item.text);
    } else {
      const batch = this._take(this.o.maxBytes);
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

  // Takes the frames that may go now: at most what the buckets allow and
  // at most maxBytes as one JSON array.
  _take(maxBytes) {
    const now = Date.now();
    const dt = (now - this._at) / 1000;
    this._tokens = Math.min(this.o.burst, this._tokens + dt * this.o.rate);
    this._bytes = Math.min(this.o.byteBurst, this._bytes + dt * this.o.byteRate);
    this._at = now;
    let n = 0;
    let body = 2; // the brackets of an array
    let sent = 0;
    while (n < this.items.length && n < Math.floor(this._tokens)) {
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

  // What piles up while a POST is in flight goes in the next one. Errors
  // for posted frames come only in the answer.
  _post(ch, batch) {
    this._posting = ch;
    const epoch = this._epoch;
    const done = () => {
      if (this._posting !== ch) return; // use() moved on meanwhile
      this._posting = null;
      this.flush();
    };
    postFrames(ch.base, this._token, batch.map((i) => i.text), { ack: this.o.ack ? this.o.ack() : 0, room: ch.room }).then(
      (answers) => {
        if (epoch !== this._epoch) return; // the session ended meanwhile
        for (const a of answers) if (a && typeof a === "object" && a.type === "error") this.o.answerError(a);
        done();
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
          this.items.unshift(...batch);
          this._bytes = 0;
          if (this._posting !== ch) return;
          this._posting = null;
          this._later(1000);
          return;
        }
        // Unknown whether it arrived: send again once the session is
        // resumed (a duplicate is harmless to the negotiation, a loss is
        // not), even when the channel died meanwhile. A 401 means the
        // session is gone; the resume will tell.
        this.items.unshift(...batch);
        if (this._posting !== ch) return;
        this._posting = null;
        this.o.failed(ch, err);
      },
    );
  }
}

/** UTF-8 length of s. */
export function byteLength(s) {
  let ascii = true;
  for (let i = 0; i < s.length && ascii; i++) ascii = s.charCodeAt(i) < 0x80;
  return ascii ? s.length : encoder.encode(s).length;
}
