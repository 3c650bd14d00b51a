// The outbox on its own, with a channel that records what is written: a
// frame the server refuses unavailable (an error carrying its cseq) goes
// again under its cseq, with every later one, after a backoff; refusals
// of frames it handled stand.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Outbox } from "../outbox.js";

function socketOutbox() {
  const written = [];
  const ch = { kind: "ws", writable: true, sendText: (text) => written.push(JSON.parse(text)) };
  const ob = new Outbox({ rate: 1000, burst: 1000, byteRate: 1 << 20, byteBurst: 1 << 20, limit: 100, maxBytes: 1 << 16 });
  ob.refill();
  ob.use(ch, "token");
  return { ob, written };
}

const unavailable = (cseq) => ({ type: "error", code: "unavailable", message: "did not happen", cseq });

test("a relay refused unavailable goes again, with the frames after it", async () => {
  const { ob, written } = socketOutbox();
  ob.push(JSON.stringify({ type: "message", data: 1 }));
  ob.push(JSON.stringify({ type: "message", data: 2 }));
  ob.push(JSON.stringify({ type: "join", room: "r", id: 7 }));
  assert.deepEqual(written.map((f) => f.cseq), [1, 2, 3]);
  assert.equal(ob.refused(unavailable(2)), true, "the relay's refusal is the outbox's");
  assert.equal(ob.refused(unavailable(3)), true, "so is the join's, refused behind it");
  ob.push(JSON.stringify({ type: "message", data: 4 }));
  assert.equal(written.length, 3, "nothing goes during the backoff");
  await new Promise((r) => setTimeout(r, 400));
  assert.deepEqual(written.map((f) => f.cseq), [1, 2, 3, 2, 3, 4], "again, in cseq order, under the same numbers");
  ob.clear();
});

test("a join refused unavailable on its own is the caller's", () => {
  const { ob, written } = socketOutbox();
  ob.push(JSON.stringify({ type: "join", room: "r", id: 1 }));
  assert.equal(ob.refused(unavailable(1)), false);
  assert.equal(ob.refused({ type: "error", code: "unknown_peer", message: "no", cseq: 1 }), false);
  assert.equal(written.length, 1);
  ob.clear();
});

test("a frame refused unavailable too often is given up", async () => {
  const { ob } = socketOutbox();
  ob._later = () => {}; // no waiting: flushed by hand below
  ob.push(JSON.stringify({ type: "offer", to: "x", sdp: "v=0" }));
  for (let i = 1; i <= 8; i++) {
    assert.equal(ob.refused(unavailable(1)), true, `refusal ${i} is retried`);
    ob._timer = null;
    ob.flush();
  }
  assert.equal(ob.refused(unavailable(1)), false, "the ninth is the caller's");
  ob.clear();
});
