// Why a peer connection is not up, in words a person can act on. No DOM
// code: the page puts the answer on the peer's tile.

import { nothingAnswers, relayedUnreachable } from "./relayhints.js";

/** How long a connection may take before its tile says what is wrong. */
export const CONNECT_BOUND = 15000; // ms

/** The STUN/TURN URLs of an RTCIceServer list, flattened. */
function urlsOf(iceServers, scheme) {
  return (iceServers || []).flatMap((s) => [].concat(s.urls || [])).filter((u) => u.startsWith(scheme));
}

/**
 * What failed for peer (a Peer) and what to do about it, or null while
 * there is nothing to say. relayOnly: the page was opened with ?relay=1.
 * @returns {{code: string, title: string, hint: string} | null}
 */
export function diagnose(peer, { relayOnly, iceServers, name }) {
  if (!peer) return noAnswer(name); // they never offered
  const pc = peer.pc;
  if (pc.connectionState === "connected" || peer.closed) return null;
  const turnURLs = urlsOf(iceServers, "turn");
  const needRelay = relayOnly || pc.iceConnectionState === "failed" || pc.connectionState === "failed";
  if (needRelay && !peer.gathered.has("relay")) {
    if (turnURLs.length === 0) {
      return {
        code: "no-turn",
        title: "No TURN server to relay through",
        hint: relayOnly
          ? "This page was opened with relay=1, but the server offers no TURN relay. Start it with -turn, or drop relay=1."
          : "A direct path failed and the server offers no TURN relay. Start it with -turn.",
      };
    }
    // Called past the bound or on failure: a reachable TURN server gives
    // a relay candidate within a second, so none by now means none at all.
    const failed = peer.iceErrors.find((e) => e.url.startsWith("turn")) || null;
    const url = failed ? failed.url : turnURLs[0];
    const why = failed && failed.text ? ` (${failed.code} ${failed.text})` : "";
    const silent = !failed || failed.code === 701 || !failed.code; // nothing answered, nothing refused
    return {
      code: "turn-unreachable",
      title: `TURN unreachable: ${url}`,
      hint: `No relay candidate was gathered${why}. ` +
        (silent ? nothingAnswers(url) : "Check that the TURN port is open from this network and that the server's -public-ip is an address this browser can reach."),
    };
  }
  if (!peer.answered) return noAnswer(name);
  // Both sides have a relay address and still no path, past the bound or
  // failed: what goes to a relayed address does not arrive.
  const relay = peer.relays && peer.relays[0];
  if (relay && peer.remoteGathered && peer.remoteGathered.has("relay")) {
    return {
      code: "relay-path",
      title: "No path through the TURN relay",
      hint: `You and ${name} each got a relay address, yet ICE is ${pc.iceConnectionState} after ${seconds(peer)} s. ` + relayedUnreachable(relay.address, relay.port, relay.url),
    };
  }
  if (pc.iceConnectionState === "failed" || pc.connectionState === "failed") {
    return {
      code: "ice-failed",
      title: "ICE failed: no network path between you",
      hint: "Both sides gathered candidates but none reached the other. A firewall may block UDP; a TURN relay over TCP or TLS gets through most of them.",
    };
  }
  return {
    code: "slow",
    title: "Still connecting",
    hint: `ICE is ${pc.iceConnectionState} after ${seconds(peer)} s. A slow or lossy network can take this long; otherwise reload.`,
  };
}

const seconds = (peer) => Math.round((Date.now() - peer.startedAt) / 1000);

function noAnswer(name) {
  return {
    code: "no-answer",
    title: `No answer from ${name}`,
    hint: "They may have left or lost their connection to the server. Their tile goes when the server notices; reload to try again.",
  };
}
