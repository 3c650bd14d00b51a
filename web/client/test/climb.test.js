// Which channel the client is on, against the real server (SB_URL): a
// server going away for a moment never demotes a channel, and after a
// fallback the client moves back to WebSocket by resuming its session,
// losing nothing and handling nothing twice.

import { test } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { newClient, roomName, serverURL, startProxy, until, waitFor } from "./helpers.js";

const fast = { backoffBase: 50, backoffCap: 200, resumeBackoffCap: 200 };

for (const [what, bad] of [["refusing connections", false], ["behind a proxy answering 502", true]]) {
  test(`a server ${what} for a while does not demote WebSocket`, { timeout: 30000 }, async (t) => {
    const proxy = await startProxy(t, serverURL());
    const alice = newClient(t, proxy.url, "ws", { transports: ["ws", "sse", "poll"], ...fast });
    const joined = alice.join(roomName("outage"), "Alice");
    alice.connect();
    await joined;
    const session = alice.sessionId;
    for (let i = 0; i < 3; i++) {
      const resumes = alice.events.filter((e) => e.type === "resumed").length;
      const closes = alice.events.filter((e) => e.type === "close").length;
      // 400 ms, and at least until two attempts (50 ms backoff) failed
      // meanwhile (a loaded machine may need longer); the last one may be
      // answered just as the server is back.
      const failed = () => alice.events.filter((e) => e.type === "close").length >= closes + 2;
      await proxy.outage(400, { bad, seen: failed });
      await until("a resume after the outage", () => alice.events.filter((e) => e.type === "resumed").length > resumes, 10000);
      assert.equal(alice.transport, "ws", `outage ${i + 1}: still on WebSocket`);
    }
    assert.deepEqual(alice.events.filter((e) => e.type === "transport"), [], "no fallback");
    assert.equal(alice.sessionId, session, "the same session");
    assert.equal(alice.events.filter((e) => e.type === "welcome").length, 1, "no new session");
  });
}

// A WebSocket constructor that cannot reach /v1/ws while blocked: the
// server answers the upgrade 404, as a proxy that does not pass WebSocket
// would refuse it, while plain HTTP works.
function blockableWebSocket() {
  const gate = { blocked: true, opened: 0 };
  gate.WebSocket = class extends WebSocket {
    constructor(url, ...rest) {
      super(gate.blocked ? url.replace("/v1/ws", "/v1/no-ws") : url, ...rest);
      gate.opened++;
    }
  };
  return gate;
}

for (const fallback of ["sse", "poll"]) {
  test(`after falling back to ${fallback} the client climbs back to WebSocket, losing nothing`, { timeout: 30000 }, async (t) => {
    const url = serverURL();
    const room = roomName("climb-" + fallback);
    const gate = blockableWebSocket();
    const alice = newClient(t, url, "ws", {
      transports: ["ws", fallback],
      WebSocket: gate.WebSocket,
      climbBase: 200,
      climbCap: 400,
      ...fast,
    });
    const bob = newClient(t, url, "ws");

    const aliceJoined = alice.join(room, "Alice");
    alice.connect();
    await aliceJoined;
    assert.equal(alice.transport, fallback);
    const fell = alice.events.filter((e) => e.type === "transport");
    assert.deepEqual(fell, [{ type: "transport", from: "ws", to: fallback, reason: "fallback" }]);
    const session = alice.sessionId;
    const bobJoined = bob.join(room, "Bob");
    bob.connect();
    await bobJoined;
    await waitFor(alice, "peer-joined", (f) => f.peer.id === bob.sessionId, 10000, alice.events);

    // Probes fail while WebSocket is blocked; the session stays put.
    const opened = gate.opened;
    await until("two failed probes", () => gate.opened >= opened + 2, 10000);
    assert.equal(alice.transport, fallback);
    assert.ok(alice.connected, "still carried");

    // Messages both ways, before, during and after the move.
    gate.blocked = false;
    let n = 0;
    let after = -1;
    while (n < 200 && (after < 0 || n < after + 10)) {
      assert.ok(bob.message({ n }, session), "bob sends");
      assert.ok(alice.message({ n }, bob.sessionId), "alice sends");
      n++;
      if (after < 0 && alice.transport === "ws") after = n;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(after > 0, "moved back to WebSocket while messages flowed");
    const got = (c) => c.events.filter((e) => e.type === "message").map((e) => e.data.n);
    await until("every message", () => got(alice).length >= n && got(bob).length >= n, 15000).catch((err) => {
      throw new Error(`${err.message}: ${n} sent each way; Alice got ${got(alice)}; Bob got ${got(bob)}`);
    });
    const want = [...Array(n).keys()];
    assert.deepEqual(got(alice), want, "Alice got each message once, in order");
    assert.deepEqual(got(bob), want, "Bob got each message once, in order");

    const moves = alice.events.filter((e) => e.type === "transport");
    assert.deepEqual(moves.at(-1), { type: "transport", from: fallback, to: "ws", reason: "climb" });
    assert.equal(moves.length, 2);
    assert.equal(alice.sessionId, session, "the same session");
    assert.equal(alice.events.filter((e) => e.type === "welcome").length, 1, "no new session");
    assert.ok(alice.events.some((e) => e.type === "resumed" && e.transport === "ws"), "resumed on WebSocket");
    assert.equal(bob.events.filter((e) => e.type === "peer-left").length, 0, "Bob saw nobody leave");
    assert.deepEqual(alice.events.filter((e) => e.type === "error"), [], "no errors");
    assert.ok(alice.connected && alice.transport === "ws");
  });
}
