// index.d.ts against the code: everything it declares is exported, every
// class has the methods and properties it declares, and package.json
// points at both. (TestJSClientTypes checks an app against index.d.ts
// with tsc.)

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import * as client from "@switchboard-rtc/client";

const dts = await readFile(new URL("../index.d.ts", import.meta.url), "utf8");
const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8"));

// The members a class declares: `name(` for methods, `readonly name:` or
// `name:` for properties; static ones and the constructor apart.
function declaredClasses() {
  const classes = new Map();
  for (const m of dts.matchAll(/^export declare class (\w+)[^{]*\{\n([\s\S]*?)^\}/gm)) {
    const members = [];
    for (const line of m[2].split("\n")) {
      const d = /^ {2}(static )?(?:readonly )?(\w+)(\(|<|:|\?)/.exec(line);
      if (d && d[2] !== "constructor" && !d[1]) members.push({ name: d[2], method: d[3] === "(" || d[3] === "<" });
    }
    classes.set(m[1], members);
  }
  return classes;
}

test("every declared export exists", () => {
  const declared = [...dts.matchAll(/^export declare (?:class|const|function) (\w+)/gm)].map((m) => m[1]);
  assert.ok(declared.length >= 7, declared.join(","));
  for (const name of declared) assert.ok(name in client, `${name} is declared but not exported`);
  for (const name of Object.keys(client)) assert.ok(declared.includes(name), `${name} is exported but not declared`);
  assert.equal(client.PROTOCOL_VERSION, 1);
});

test("every declared member exists", async () => {
  const { WebSocket } = await import("ws");
  const sig = new client.SignalingClient("http://127.0.0.1:1", { WebSocket });
  const instances = {
    SignalingClient: sig,
    SignalingError: new client.SignalingError("x", "y"),
    IceError: new client.IceError("x", "y"),
  };
  for (const [name, members] of declaredClasses()) {
    const proto = client[name].prototype;
    for (const m of members) {
      if (m.method) {
        assert.equal(typeof proto[m.name], "function", `${name}.${m.name}() is declared but missing`);
      } else if (instances[name]) {
        assert.ok(m.name in instances[name], `${name}.${m.name} is declared but missing`);
      }
    }
  }
  assert.equal(sig.options.backoffBase, 500, "defaults are declared in index.d.ts");
});

test("package.json: version is the protocol's, exports name the files", () => {
  assert.equal(pkg.name, "@switchboard-rtc/client");
  assert.equal(pkg.version.split(".")[0], String(client.PROTOCOL_VERSION));
  assert.equal(pkg.type, "module");
  assert.equal(pkg.exports["."].types, "./index.d.ts");
  assert.equal(pkg.exports["."].default, "./index.js");
  assert.equal(pkg.types, "./index.d.ts");
});
