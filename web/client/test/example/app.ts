// A small app on @switchboard-rtc/client, type-checked (tsc --noEmit) by
// TestJSClientTypes against index.d.ts: it imports the package by name,
// as an app built with a bundler does, and uses every export.
import {
  Call,
  FetchEventSource,
  IceError,
  PROTOCOL_VERSION,
  Room,
  SignalingClient,
  SignalingError,
  type JoinedFrame,
  type PeerInfo,
  type Transport,
} from "@switchboard-rtc/client";

const version: 1 = PROTOCOL_VERSION;
const transports: Transport[] = ["ws", "sse"];
const signaling = new SignalingClient("https://meet.example.com", { transports, backoffCap: 10_000 });

signaling.addEventListener("state", ({ detail }) => {
  const s: "connecting" | "open" | "reconnecting" | "closed" = detail.state;
  console.log(s, detail.transport, detail.delay ?? 0);
});
signaling.addEventListener("message", ({ detail }) => console.log(detail.from, detail.data));
signaling.addEventListener("error", ({ detail }) => console.log(detail.code.toUpperCase(), detail.message));
signaling.addEventListener("peer-joined", ({ detail }) => console.log(detail.peer.name));
signaling.addEventListener("ice-servers", ({ detail }) => console.log(detail.iceServers.length, detail.ttl));
signaling.addEventListener("close", ({ detail }) => console.log(detail.willReconnect));
signaling.addEventListener("transport", ({ detail }) => console.log(detail.from, "->", detail.to, detail.reason === "climb"));
// @ts-expect-error: a state detail has no sdp
signaling.addEventListener("state", ({ detail }) => detail.sdp);

class LoggedCall extends Call {
  override close(): void {
    console.log("closing", this.id, this.connectionState);
    super.close();
  }
}

async function main(video: HTMLVideoElement): Promise<void> {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  const room = new Room(signaling, {
    localStream: () => stream,
    config: { bundlePolicy: "max-bundle" },
    createCall: (o) => new LoggedCall(o),
  });
  room.addEventListener("track", ({ detail }) => {
    const call: LoggedCall = detail.call;
    video.srcObject = detail.stream;
    console.log(call.id, detail.track.kind);
  });
  room.addEventListener("call", ({ detail }) => {
    detail.call.addEventListener("state", ({ detail: s }) => console.log(s.connectionState, s.iceConnectionState));
  });
  room.addEventListener("peer-left", ({ detail }) => detail.call?.close());
  try {
    const joined: JoinedFrame = await room.join("standup-42", "Ada", { token: "from-your-backend" });
    const peers: PeerInfo[] = joined.peers;
    console.log(peers.map((p) => p.id), room.calls.size, room.call(peers[0]?.id ?? "")?.polite);
  } catch (err) {
    if (err instanceof SignalingError && err.code === "room_full") console.log("full");
    if (err instanceof IceError) console.log(err.code);
  }
  signaling.message({ kind: "chat", text: "hello" });
  // @ts-expect-error: join takes a room name
  void room.join(42);
  await room.replaceTrack("video", null);
  await room.close();
  signaling.disconnect();
  const es = new FetchEventSource("https://meet.example.com/v1/sse");
  es.onmessage = (ev) => console.log(ev.data.length);
  es.close();
  console.log(version, es.readyState === FetchEventSource.CLOSED);
}

void main(document.createElement("video"));
