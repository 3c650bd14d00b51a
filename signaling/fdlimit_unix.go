//go:build unix

package signaling

import "syscall"

// defaultMaxSessions leaves an eighth of the file descriptor limit (at
// least 64, at most 4096) for everything but sessions: /healthz, /metrics,
// the relay's sockets, logs. Go raises the soft limit to the hard one at
// start, so this reads the limit the process really has.
func defaultMaxSessions() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 1 << 20
	}
	n := int(lim.Cur)
	return max(n-min(max(n/8, 64), 4096), 16)
}
