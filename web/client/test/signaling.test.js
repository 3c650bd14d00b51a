// The client against the real server (SB_URL), on each channel: it
// joins, relays messages both ways exactly once, survives a cut
// connection by resuming its session (nobody sees it leave), gets TURN
// credentials with joined and leaves with a bye.

import { test } from "node:test";
import assert from "node:assert/strict";
import { SignalingError } from "@switchboard-rtc/client";
import { newClient, roomName, serverURL, startProxy, until, waitFor } from "./helpers.js";

for (const transport of ["ws", "sse", "poll"]) {
  test(`call signaling over ${transport}`, { timeout: 30000 }, async (t) => {
    const url = serverURL();
    const room = roomName(transport);
    // Alice is on the channel under test, through a proxy that can cut it.
    const proxy = await startProxy(t, url);
    const alice = newClient(t, proxy.url, transport);
    const bob = newClient(t, url, "ws");

    const aliceJoined = alice.join(room, "Alice");
    alice.connect();
    const joinedA = await aliceJoined;
    assert.equal(joinedA.room, room);
    assert.deepEqual(joinedA.peers, []);
    assert.equal(alice.transport, transport);
    assert.ok(alice.sessionId, "a session id");
    const turn = joinedA.iceServers.find((s) => [].concat(s.urls).some((u) => u.startsWith("turn:")));
    assert.ok(turn && turn.username && turn.credential, "joined carries TURN credentials: " + JSON.stringify(joinedA.iceServers));
    assert.deepEqual(alice.iceServers, joinedA.iceServers);

    const bobJoined = bob.join(room, "Bob");
    bob.connect();
    const joinedB = await bobJoined;
    assert.equal(joinedB.peers.length, 1);
    const [seen] = joinedB.peers;
    assert.deepEqual({ id: seen.id, name: seen.name }, { id: alice.sessionId, name: "Alice" });
    // Alice's tab is known by a tag of its clientId, never by the secret itself.
    assert.match(seen.clientTag, /^[A-Z2-7]{26}$/);
    assert.ok(!JSON.stringify(joinedB).includes(alice.clientId), "the clientId stays with the server");
    const pj = await waitFor(alice, "peer-joined", (f) => f.peer.id === bob.sessionId, 10000, alice.events);
    assert.equal(pj.peer.name, "Bob");

    // Messages both ways: to one peer, and to the room.
    assert.ok(alice.message({ kind: "chat", text: "hi Bob" }, bob.sessionId));
    const m1 = await waitFor(bob, "message", (f) => f.data.text === "hi Bob", 10000, bob.events);
    assert.equal(m1.from, alice.sessionId);
    assert.ok(bob.message({ kind: "chat", text: "hi all" }));
    await waitFor(alice, "message", (f) => f.data.text === "hi all", 10000, alice.events);

    // A cut: Alice's client resumes the same session and nothing is lost.
    const session = alice.sessionId;
    const resumes = alice.events.filter((e) => e.type === "resumed").length;
    const welcomes = alice.events.filter((e) => e.type === "welcome").length;
    assert.ok(proxy.cut() > 0, "connections to cut");
    // Sent while Alice may be down: the server keeps it for her.
    assert.ok(bob.message({ kind: "chat", text: "during the cut" }, session));
    await waitFor(alice, "message", (f) => f.data.text === "during the cut", 15000, alice.events);
    if (transport !== "poll") {
      // A cut between two polls goes unnoticed, as it should.
      await until("a resume", () => alice.events.filter((e) => e.type === "resumed").length > resumes, 15000);
    }
    assert.ok(alice.message({ kind: "chat", text: "after the cut" }));
    await waitFor(bob, "message", (f) => f.data.text === "after the cut", 10000, bob.events);
    assert.equal(alice.sessionId, session, "the same session");
    assert.equal(alice.events.filter((e) => e.type === "welcome").length, welcomes, "no new session");
    assert.equal(bob.events.filter((e) => e.type === "peer-left").length, 0, "Bob saw nobody leave");
    // Each message handled once, across the resume's replay.
    for (const text of ["hi all", "during the cut"]) {
      assert.equal(alice.events.filter((e) => e.type === "message" && e.data.text === text).length, 1, text);
    }
    assert.deepEqual(alice.events.filter((e) => e.type === "error"), [], "no errors");

    if (transport === "sse" && process.env.SB_SSE_MAX_AGE) {
      // The server ends the event stream at its -sse-max-age; the
      // EventSource (here the client's own, on fetch) reconnects with
      // Last-Event-ID and the session goes on.
      const n = alice.events.filter((e) => e.type === "resumed").length;
      await until("the server to end the event stream", () => alice.events.filter((e) => e.type === "resumed").length > n, 15000);
      assert.ok(bob.message({ kind: "chat", text: "after the stream ended" }, session));
      await waitFor(alice, "message", (f) => f.data.text === "after the stream ended", 10000, alice.events);
      assert.equal(alice.sessionId, session);
    }

    // TURN credentials on request too.
    const fresh = await alice.fetchIceServers();
    assert.ok(fresh.ttl > 0 && fresh.iceServers.length > 0);

    // Alice leaves: Bob sees it at once.
    alice.disconnect();
    const left = await waitFor(bob, "peer-left", (f) => f.peer.id === session, 10000, bob.events);
    assert.equal(left.peer.id, session);
    assert.equal(alice.connected, false);
  });
}

test("refusals are SignalingErrors with the protocol's code", { timeout: 15000 }, async (t) => {
  const client = newClient(t, serverURL(), "ws");
  const joined = client.join("no spaces allowed", "Eve");
  client.connect();
  await assert.rejects(joined, (err) => err instanceof SignalingError && err.code === "bad_room" && err.message !== "");
  const error = await waitFor(client, "error", (e) => e.code === "bad_room", 5000, client.events);
  assert.ok(error.message);
});

test("a frame over the size limit is refused by the client, not sent", { timeout: 15000 }, async (t) => {
  const client = newClient(t, serverURL(), "poll");
  const joined = client.join(roomName("big"), "Big");
  client.connect();
  await joined;
  assert.equal(client.message({ blob: "x".repeat(70 << 10) }), false);
  const error = await waitFor(client, "error", (e) => e.code === "too_large", 5000, client.events);
  assert.match(error.message, /65536 bytes/);
  // The session goes on.
  const left = await client.leave();
  assert.equal(left.type, "left");
});

test("without a WebSocket the ws channel says how to get one", { timeout: 15000 }, async (t) => {
  const client = newClient(t, serverURL(), "ws", { WebSocket: undefined });
  if (typeof globalThis.WebSocket === "function") t.skip("this runtime has a WebSocket");
  const error = waitFor(client, "error", (e) => e.code === "bad_url", 5000);
  client.connect();
  assert.match((await error).message, /options\.WebSocket/);
});
