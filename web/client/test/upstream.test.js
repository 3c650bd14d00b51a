// Nothing lost upstream, nothing twice: a client sends numbered messages
// while its connection is cut under it; frames written into a socket that
// died unread, and POSTs whose answer was lost, go again, and the server
// handles each frame once (cseq). The peer gets every message once, in
// order.

import { test } from "node:test";
import assert from "node:assert/strict";
import { newClient, roomName, serverURL, startProxy, until } from "./helpers.js";

const total = 200;

for (const transport of ["ws", "sse", "poll"]) {
  test(`upstream frames once, in order, across cuts, over ${transport}`, { timeout: 30000 }, async (t) => {
    const url = serverURL();
    const room = roomName("upstream-" + transport);
    const proxy = await startProxy(t, url);
    const alice = newClient(t, proxy.url, transport);
    const bob = newClient(t, url, "ws");
    const aliceJoined = alice.join(room, "Alice");
    alice.connect();
    await aliceJoined;
    const bobJoined = bob.join(room, "Bob");
    bob.connect();
    await bobJoined;

    const got = [];
    bob.addEventListener("message", (e) => {
      if (typeof e.detail.data === "number") got.push(e.detail.data);
      if (got.length === 150) proxy.cut(); // while the outbox paces the rest
    });
    for (let i = 1; i <= total; i++) {
      assert.ok(alice.message(i, bob.sessionId), `message ${i} queued`);
      if (i === 60) proxy.cut(); // the frames just written die with the socket
    }
    await until(`${total} messages (have ${got.length})`, () => got.length >= total, 25000);
    assert.deepEqual(got, Array.from({ length: total }, (_, i) => i + 1));
    assert.ok(alice.events.some((e) => e.type === "resumed" || e.type === "state"), "events recorded");
    assert.equal(alice.events.filter((e) => e.type === "resume-failed").length, 0, "the same session throughout");
  });
}
