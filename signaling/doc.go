// Package signaling is the rendezvous service: peers join rooms and
// exchange SDP offers/answers, ICE candidates and application messages
// through it. A session outlives the channel that carries it (a
// WebSocket, a server-sent event stream with POST /v1/send, or
// long-polling); the protocol's bytes are package wire's.
package signaling
