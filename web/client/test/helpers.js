// Helpers of the node tests: the server under test, clients on it, a
// proxy that cuts connections, and waiting on events with a deadline.

import net from "node:net";
import { WebSocket } from "ws";
import { SignalingClient } from "@switchboard-rtc/client";

/**
 * The server the tests talk to: SB_URL, set by cmd/switchboard's
 * TestJSClientNode, which starts a real one on a loopback port.
 */
export function serverURL() {
  const url = process.env.SB_URL;
  if (!url) throw new Error("SB_URL is not set: run these through go test -run TestJSClientNode ./cmd/switchboard");
  return url;
}

/** A unique room name per test. */
export function roomName(prefix) {
  return `${prefix}-${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
}

/**
 * A client forced onto one transport, with fast retries, recording every
 * event it emits. Closed (with a bye) when the test ends.
 */
export function newClient(t, url, transport, options = {}) {
  const client = new SignalingClient(url, {
    transports: [transport],
    WebSocket,
    backoffBase: 100,
    backoffCap: 1000,
    connectTimeout: 5000,
    ...options,
  });
  const events = [];
  for (const type of ["state", "welcome", "resumed", "resume-failed", "joined", "peer-joined", "peer-left", "message", "ice-servers", "close", "error", "transport"]) {
    client.addEventListener(type, (e) => events.push({ type, ...e.detail }));
  }
  client.events = events;
  t.after(() => client.disconnect());
  return client;
}

/**
 * Resolves with the first event of type on target whose detail satisfies
 * match, or rejects after ms; seen (an array of earlier details, such as
 * client.events) is searched first.
 */
export function waitFor(target, type, match = () => true, ms = 10000, seen = []) {
  const earlier = seen.find((e) => e.type === type && match(e));
  if (earlier) return Promise.resolve(earlier);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      target.removeEventListener(type, on);
      reject(new Error(`no ${type} event within ${ms} ms`));
    }, ms);
    const on = (e) => {
      if (!match(e.detail)) return;
      clearTimeout(timer);
      target.removeEventListener(type, on);
      resolve(e.detail);
    };
    target.addEventListener(type, on);
  });
}

/** Waits until cond() is true, polling every 20 ms, or rejects after ms. */
export async function until(what, cond, ms = 10000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A TCP proxy on a loopback port in front of the server: cut() ends every
 * connection through it, as a flaky network would; outage(ms) also
 * refuses connections for ms, as a restarting server does, or with
 * badGateway answers every request 502, as a reverse proxy does while the
 * node behind it restarts. Closed when the test ends.
 */
export async function startProxy(t, target) {
  const { hostname, port } = new URL(target);
  const conns = new Set();
  let badGateway = false;
  const server = net.createServer((down) => {
    if (badGateway) {
      down.on("error", () => {}).once("data", () => down.end("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"));
      return;
    }
    const up = net.connect(Number(port), hostname);
    conns.add(down).add(up);
    const gone = () => {
      conns.delete(down);
      conns.delete(up);
      down.destroy();
      up.destroy();
    };
    down.on("error", gone).on("close", gone);
    up.on("error", gone).on("close", gone);
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const listenPort = server.address().port;
  t.after(() => {
    for (const c of conns) c.destroy();
    server.close();
  });
  return {
    url: `http://127.0.0.1:${listenPort}`,
    cut() {
      const n = conns.size;
      for (const c of conns) c.destroy();
      return n;
    },
    // seen(), when given, holds the outage past ms until it is true (at
    // most 10 s more): what the test must have seen happen meanwhile, which
    // on a loaded machine may take longer than ms.
    async outage(ms, { bad = false, seen = () => true } = {}) {
      const last = async () => {
        await new Promise((resolve) => setTimeout(resolve, ms));
        if (!seen()) await until("what the outage must show", seen, 10000);
      };
      if (bad) {
        badGateway = true;
        for (const c of conns) c.destroy();
        await last();
        badGateway = false;
        return;
      }
      await new Promise((resolve) => {
        server.close(resolve);
        for (const c of conns) c.destroy();
      });
      await last();
      await new Promise((resolve, reject) => server.once("error", reject).listen(listenPort, "127.0.0.1", resolve));
    },
  };
}
