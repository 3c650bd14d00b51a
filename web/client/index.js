// @switchboard-rtc/client: the Switchboard signaling protocol v1 client
// (docs/protocol.md) and calls on it with perfect negotiation. Served by
// the switchboard binary at /client/v1/index.js; see README.md.

export { SignalingClient, SignalingError } from "./client.js";
export { Call } from "./call.js";
export { Room } from "./room.js";
export { FetchEventSource } from "./eventsource.js";
export { IceError } from "./ice.js";

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;
