// Types of @switchboard-rtc/client (protocol v1, docs/protocol.md).
// Checked against the code by the tests (web/client/test: tsc --noEmit on
// an example app that uses every export).

/** The protocol version this client speaks. */
export declare const PROTOCOL_VERSION: 1;

export type Transport = "ws" | "sse" | "poll";

/** An RTCIceServer as the server sends it (welcome, joined, ice-servers). */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** A peer in a room. */
export interface PeerInfo {
  id: string;
  name: string;
  /** Stands for the peer's tab (its client's clientId, hashed with the room): the same for every session the tab has. */
  clientTag?: string;
}

export interface SignalingOptions {
  /** In order of preference; one forces it. Default ["ws", "sse", "poll"]. */
  transports?: Transport[];
  /**
   * Attempts on one channel in a row that failed while the server answered
   * plain HTTP, before trying the next. A server going away (a close or
   * notice saying why, a refused connection, a proxy's 5xx) never counts.
   * Default 2.
   */
  fallbackAfter?: number;
  /**
   * ms, first wait before probing the preferred channel (the first of
   * transports, ws or sse) again after a fallback; doubles up to climbCap,
   * with jitter, and starts again when the channel in use ends. When a
   * probe opens, the session is resumed on it (nothing lost) and the other
   * channel dropped. 0: never. Default 2000.
   */
  climbBase?: number;
  /** ms, longest wait between probes of the preferred channel. Default 30000. */
  climbCap?: number;
  /** ms, first reconnect delay before jitter. Default 500. */
  backoffBase?: number;
  /** ms, longest reconnect delay. Default 30000. */
  backoffCap?: number;
  /** ms, longest delay while the session can still be resumed. Default 5000. */
  resumeBackoffCap?: number;
  /** ms a channel must live to reset the backoff. Default 10000. */
  stableAfter?: number;
  /** ms to wait for a reply to a request. Default 10000. */
  requestTimeout?: number;
  /** ms from opening a channel to welcome or resume. Default 10000. */
  connectTimeout?: number;
  /** ms one long-poll may take. Default 60000. */
  pollTimeout?: number;
  /** Renew TURN credentials before they expire. Default true. */
  refreshIceServers?: boolean;
  /** Move to the room's owner node (joined.owner) when allowed. Default true. */
  followOwner?: boolean;
  /** Frames per second sent at most (the server allows 50). Default 40. */
  sendRate?: number;
  sendBurst?: number;
  /** Bytes per second sent at most (the server allows 32 KiB). Default 24 KiB. */
  sendByteRate?: number;
  sendByteBurst?: number;
  /** Frames kept while the channel is down. Default 2000. */
  maxQueued?: number;
  /** Largest frame sent. Default 64 KiB. */
  maxFrameBytes?: number;
  /** The WebSocket constructor; default the global one (in Node 20, pass the ws package's). */
  WebSocket?: new (url: string) => any;
  /** The EventSource constructor; default the global one, else FetchEventSource. */
  EventSource?: new (url: string) => any;
  /** join's client: a secret of this tab, 16-64 of [A-Za-z0-9._-], the same for every session. Default: random per SignalingClient. */
  clientId?: string;
}

export interface JoinOptions {
  /** A join token from the app's backend, for a server with -join-secret. */
  token?: string;
}

/** Frames as the server sends them; fields the client does not know are kept. */
export interface Frame {
  type: string;
  seq?: number;
  [field: string]: unknown;
}

export interface WelcomeFrame extends Frame {
  type: "welcome";
  session: string;
  token: string;
  iceServers: IceServer[];
  ttl: number;
  heartbeat: number;
}

export interface JoinedFrame extends Frame {
  type: "joined";
  room: string;
  peers: PeerInfo[];
  iceServers?: IceServer[];
  ttl?: number;
  owner?: string;
}

export interface JoinedEvent extends JoinedFrame {
  /** True when a new session joined the room again by itself. */
  rejoin: boolean;
}

export interface LeftFrame extends Frame {
  type: "left";
}

export interface PeerEventFrame extends Frame {
  type: "peer-joined" | "peer-left";
  peer: PeerInfo;
  /** peer-left: "left" on purpose (leave, bye, tab closed), "lost" (its session ended otherwise). */
  reason?: "left" | "lost";
}

export interface DescriptionFrame extends Frame {
  type: "offer" | "answer";
  from: string;
  sdp: string;
}

export interface CandidateFrame extends Frame {
  type: "candidate";
  from: string;
  candidate: RTCIceCandidateInit | null;
}

export interface MessageFrame extends Frame {
  type: "message";
  from: string;
  data: unknown;
}

export interface ErrorDetail {
  type?: "error";
  code: string;
  message: string;
  re?: string | number;
  /** The refused frame's number in the session, when the server read it. */
  cseq?: number;
}

export interface StateDetail {
  state: "connecting" | "open" | "reconnecting" | "closed";
  transport: Transport;
  attempt?: number;
  /** ms until the next attempt (reconnecting). */
  delay?: number;
  /** Date.now() of the next attempt (reconnecting). */
  at?: number;
  resumed?: boolean;
}

export interface ResumedDetail {
  session: string;
  transport: Transport;
  after: number;
  last: number;
  /** The last of this client's frames (by cseq) the server had handled: the ones after it are sent again. 0 on a poll, which says nothing (the server skips what it had). */
  applied: number;
}

export interface IceServersDetail {
  iceServers: IceServer[];
  ttl: number;
  /** Set when the servers came with a joined frame. */
  room?: string;
}

export interface TransportDetail {
  from: Transport;
  to: Transport;
  /** "fallback": from kept failing while the server answered; "climb": back to the preferred one. */
  reason: "fallback" | "climb";
}

export interface CloseDetail {
  code: number;
  reason: string;
  willReconnect: boolean;
  transport: Transport;
}

/** The events of SignalingClient, by name: the type of event.detail. */
export interface SignalingEventMap {
  state: StateDetail;
  welcome: WelcomeFrame;
  resumed: ResumedDetail;
  "resume-failed": { message: string };
  joined: JoinedEvent;
  "peer-joined": PeerEventFrame;
  "peer-left": PeerEventFrame;
  offer: DescriptionFrame;
  answer: DescriptionFrame;
  candidate: CandidateFrame;
  message: MessageFrame;
  "ice-servers": IceServersDetail;
  moving: { from: string; to: string };
  transport: TransportDetail;
  error: ErrorDetail;
  close: CloseDetail;
}

/** An error frame, or a client-side failure; code is the protocol's (or "offline", "timeout", …). */
export declare class SignalingError extends Error {
  constructor(code: string, message?: string);
  code: string;
}

/** A refused GET /v1/ice-servers. */
export declare class IceError extends Error {
  constructor(code: string, message?: string);
  code: string;
}

/**
 * The signaling client: WebSocket, else server-sent events, else
 * long-polling; reconnects with backoff and resumes its session, so no
 * event is lost or handled twice.
 */
export declare class SignalingClient extends EventTarget {
  /** url: the server, any URL of its origin (http(s)://…, or ws(s)://…/v1/ws). */
  constructor(url: string, options?: SignalingOptions);
  readonly url: string;
  /** join's client (SignalingOptions.clientId). */
  readonly clientId: string;
  readonly options: Required<Omit<SignalingOptions, "WebSocket" | "EventSource">> & Pick<SignalingOptions, "WebSocket" | "EventSource">;
  /** The current session's public id, or null. */
  readonly sessionId: string | null;
  /** True while a channel carries the session. */
  readonly connected: boolean;
  /** The room the session is in, or null. */
  readonly room: string | null;
  /** STUN from welcome, with TURN once in a room. */
  readonly iceServers: IceServer[];
  /** The channel in use or being tried. */
  readonly transport: Transport;
  /** The origin channels go to: the server given, or the room's owner node. */
  readonly channelOrigin: string;

  /** Opens a channel and keeps the session carried until disconnect(). */
  connect(): void;
  /** Ends the session: no reconnect, peers see peer-left at once. */
  disconnect(): void;
  /** Skips the remaining backoff delay (the network came back). */
  reconnectNow(): void;
  /** Joins room, and re-joins it in every new session until leave(). */
  join(room: string, name?: string, options?: JoinOptions): Promise<JoinedFrame>;
  leave(): Promise<LeftFrame | Frame>;
  offer(to: string, sdp: string): boolean;
  answer(to: string, sdp: string): boolean;
  candidate(to: string, candidate: RTCIceCandidateInit | null): boolean;
  /** Sends data (any JSON) to one peer, or to the whole room without to. */
  message(data: unknown, to?: string): boolean;
  /** Queues one frame, paced under the server's rate limit. */
  send(frame: Frame): boolean;
  /** Sends frame with a fresh id; resolves with the reply. */
  request(frame: Frame): Promise<Frame>;
  /** GET /v1/ice-servers for this session. */
  fetchIceServers(): Promise<{ iceServers: IceServer[]; ttl: number }>;

  addEventListener<K extends keyof SignalingEventMap>(type: K, listener: (ev: CustomEvent<SignalingEventMap[K]>) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof SignalingEventMap>(type: K, listener: (ev: CustomEvent<SignalingEventMap[K]>) => void, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

export interface CallOptions {
  /** The remote peer's session id. */
  id: string;
  /** True on exactly one side of the pair. */
  polite: boolean;
  /** Add local media now, and so offer; otherwise wait for the peer's offer. */
  initiator: boolean;
  signaling: SignalingClient;
  config?: RTCConfiguration;
  localStream?: MediaStream | null;
  log?: (msg: string) => void;
}

export interface CallStateDetail {
  connectionState: RTCPeerConnectionState;
  iceConnectionState: RTCIceConnectionState;
  signalingState: RTCSignalingState;
}

export interface TrackDetail {
  /** Every remote track of the call. */
  stream: MediaStream;
  track: MediaStreamTrack;
}

export interface CallEventMap {
  track: TrackDetail;
  state: CallStateDetail;
  close: Record<string, never>;
}

/** One RTCPeerConnection to one peer, negotiated with perfect negotiation. */
export declare class Call extends EventTarget {
  constructor(options: CallOptions);
  readonly id: string;
  readonly polite: boolean;
  readonly signaling: SignalingClient;
  readonly pc: RTCPeerConnection;
  readonly remoteStream: MediaStream;
  localStream: MediaStream | null;
  readonly closed: boolean;
  /** A remote description was applied. */
  readonly answered: boolean;
  readonly connectionState: RTCPeerConnectionState;
  handleDescription(type: "offer" | "answer", sdp: string): Promise<void>;
  handleCandidate(candidate: RTCIceCandidateInit | null): Promise<void>;
  setIceServers(iceServers: IceServer[]): void;
  /** The peer came back as a new session (or this side did): the call goes on with id. */
  rebind(id: string, polite: boolean): void;
  restartIce(): void;
  replaceTrack(kind: "audio" | "video", track: MediaStreamTrack | null, stream?: MediaStream): Promise<void>;
  close(): void;

  addEventListener<K extends keyof CallEventMap>(type: K, listener: (ev: CustomEvent<CallEventMap[K]>) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof CallEventMap>(type: K, listener: (ev: CustomEvent<CallEventMap[K]>) => void, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

export interface RoomOptions<C extends Call = Call> {
  /** What each call sends, read when the call is made. */
  localStream?: MediaStream | null | (() => MediaStream | null);
  /** For every call; iceServers come from the signaling client. */
  config?: RTCConfiguration;
  /** Offer to peers that join after us. Default false: they offer. */
  callNewcomers?: boolean;
  /** Makes each call, e.g. a subclass of Call. */
  createCall?: (options: CallOptions) => C;
  /** ms a call whose media flows waits for its peer to come back as a new session (peer-away). Default 20000; 0: never. */
  keepAway?: number;
  log?: (msg: string) => void;
}

export interface RoomEventMap<C extends Call = Call> {
  joined: JoinedEvent;
  call: { call: C; peer: PeerInfo };
  track: TrackDetail & { call: C };
  "peer-joined": { peer: PeerInfo };
  "peer-away": { peer: PeerInfo; call: C };
  "peer-back": { peer: PeerInfo; call: C; was: string };
  "peer-left": { peer: PeerInfo; call: C | undefined };
}

/** A call in one room: a Call per peer, on a SignalingClient. */
export declare class Room<C extends Call = Call> extends EventTarget {
  constructor(signaling: SignalingClient, options?: RoomOptions<C>);
  readonly signaling: SignalingClient;
  localStream: MediaStream | null | (() => MediaStream | null);
  readonly calls: Map<string, C>;
  readonly peers: Map<string, PeerInfo>;
  /** Peers whose calls wait for them to come back (peer-away). */
  readonly away: PeerInfo[];
  keepAway: number;
  /** Joins (and connects the client); resolves with the joined frame. */
  join(room: string, name?: string, options?: JoinOptions): Promise<JoinedFrame>;
  /** Closes every call and leaves the room. */
  leave(): Promise<LeftFrame | Frame>;
  /** Leaves and stops listening to the client. */
  close(): Promise<void>;
  call(id: string): C | undefined;
  replaceTrack(kind: "audio" | "video", track: MediaStreamTrack | null, stream?: MediaStream): Promise<void>;

  addEventListener<K extends keyof RoomEventMap<C>>(type: K, listener: (ev: CustomEvent<RoomEventMap<C>[K]>) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof RoomEventMap<C>>(type: K, listener: (ev: CustomEvent<RoomEventMap<C>[K]>) => void, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/** An EventSource on fetch, used where the runtime has none (Node 20). */
export declare class FetchEventSource {
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSED: 2;
  constructor(url: string);
  readonly url: string;
  readonly readyState: 0 | 1 | 2;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent<string>) => void) | null;
  onerror: ((ev: Event) => void) | null;
  close(): void;
}
