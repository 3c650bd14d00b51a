// Why a relay does not work, in words that name the cause: shared by the
// pre-call test (precall.js) and the tiles (health.js), and worded as
// `switchboard check` words it. No DOM code.

/** host:port of a stun:, turn: or turns: URL, and the host alone. */
export function relayAddress(url) {
  const hostport = String(url).replace(/^[a-z]+:/, "").split("?")[0];
  const host = hostport.startsWith("[") ? hostport.slice(1, hostport.indexOf("]")) : hostport.split(":")[0];
  return { hostport, host };
}

const isIP = (h) => /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.includes(":");

/** ", while this page came from 127.0.0.1", when both are addresses and differ. */
function pageElsewhere(host) {
  const page = (globalThis.location?.hostname || "").replace(/^\[|\]$/g, "");
  return isIP(page) && isIP(host) && page !== host ? `, while this page came from ${page}` : "";
}

/** Nothing answered at the relay address the server advertises (url), over how. */
export function nothingAnswers(url, how) {
  const { hostport, host } = relayAddress(url);
  return `Nothing answers at ${hostport}${how ? " over " + how : ""}, the relay address the server advertises${pageElsewhere(host)}: ` +
    "check the server's -public-ip (it must be an address this browser can reach), or that its TURN port is open from this network.";
}

/**
 * The relay allocated ip:port but nothing came through it. url, when
 * known, is where the relay was reached.
 */
export function relayedUnreachable(ip, port, url) {
  const address = (ip.includes(":") ? `[${ip}]` : ip) + ":" + port;
  const reached = url ? relayAddress(url).host : "";
  const at = reached && isIP(reached) && reached !== ip ? ` (it was reached at ${reached})` : "";
  return `The relay hands out ${address}, but nothing came through it: the relay advertises ${ip}, which does not reach it${at}: ` +
    "check the server's -public-ip (external-ip on a separate relay), and that no firewall closes its relay ports (-relay-ports).";
}
