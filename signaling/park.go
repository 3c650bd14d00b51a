package signaling

// parkable is what the parker needs of an idle connection (see parker):
// a pointer, compared to find it again.
type parkable interface {
	comparable
	// parkFD is the socket's descriptor; only the connection's reader
	// closes it.
	parkFD() int32
	// parking is called, under the parker's lock, just before the socket
	// is armed: the connection lets go of what an idle one need not hold,
	// and reports false when it must not park (it is closing).
	parking() bool
}
