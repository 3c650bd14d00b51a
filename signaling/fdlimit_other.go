//go:build !unix

package signaling

func defaultMaxSessions() int { return 1 << 16 }
