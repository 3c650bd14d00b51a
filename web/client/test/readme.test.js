// README.md's Node program runs as written against the server (SB_URL
// for http://localhost:8080), with a peer in its room that must get its
// hello. (TestBrowserJSClientREADME runs the README's page in Chromium.)

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { newClient, serverURL, waitFor } from "./helpers.js";

const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");

/** The fenced blocks of markdown in language lang. */
export function blocks(markdown, lang) {
  return [...markdown.matchAll(new RegExp("^```" + lang + "\\n([\\s\\S]*?)^```", "gm"))].map((m) => m[1]);
}

test("the README's Node program joins, says hello and leaves", { timeout: 30000 }, async (t) => {
  const programs = blocks(readme, "js");
  assert.equal(programs.length, 1, "one Node program in README.md");
  const code = programs[0];
  assert.ok(code.includes("http://localhost:8080"), "the program talks to the quick start's server");
  const room = code.match(/join\("([^"]+)"/)[1];

  // Someone in the room to greet; the README's room name, on this server.
  const peer = newClient(t, serverURL(), "ws");
  const joined = peer.join(room, "Listener");
  peer.connect();
  await joined;

  // In this folder, so that its imports resolve from node_modules.
  const file = fileURLToPath(new URL(`./_readme-${process.pid}.mjs`, import.meta.url));
  await writeFile(file, code.replaceAll("http://localhost:8080", serverURL()));
  t.after(() => rm(file, { force: true }));
  const { stdout } = await new Promise((resolve, reject) => {
    execFile(process.execPath, [file], { timeout: 20000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve({ stdout, stderr })));
  });
  assert.match(stdout, /in the room with \[ 'Listener' \]/);
  const hello = await waitFor(peer, "message", (f) => f.data && f.data.text === "hello from Node", 5000, peer.events);
  assert.equal(hello.data.kind, "chat");
  await waitFor(peer, "peer-left", () => true, 5000, peer.events);
});
