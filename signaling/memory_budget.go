package signaling

import (
	"bufio"
	"bytes"
	"cmp"
	"os"
	"slices"
	"strconv"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// The buffer budget (Config.MaxBufferedBytes) caps what every session's
// replay buffer holds together. One session's buffer is bounded by
// ReplayBytes, but a client that reads without acknowledging keeps its
// buffer full for as long as it stays connected: a few thousand such
// sessions hold gigabytes. Past the budget, the sessions holding the most
// are ended first; a well-behaved session acknowledges as it reads and
// holds little, so it is never among them.

// noteBuffered wakes the budget's enforcer when the buffers passed the
// budget. It runs after every event kept: an atomic load and a compare.
func (s *Server) noteBuffered() {
	if s.engine.Held() > s.cfg.MaxBufferedBytes {
		select {
		case s.overBudget <- struct{}{}:
		default: // a cut is already due
		}
	}
}

// enforceBudget cuts sessions whenever noteBuffered says so.
func (s *Server) enforceBudget() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.overBudget:
			s.cutOverBudget()
		}
	}
}

// cutOverBudget ends sessions, those holding the most bytes first, until
// the buffers are an eighth under the budget (so that a server at its
// budget is not scanned for every event). A session within its fair share
// of the budget (the budget over the live sessions) is never cut: if
// every session were within it, the budget would hold.
func (s *Server) cutOverBudget() {
	limit := s.cfg.MaxBufferedBytes
	held := s.engine.Held()
	if held <= limit {
		return
	}
	s.mu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	if len(all) == 0 {
		return
	}
	type holder struct {
		sess *session
		held int64
	}
	holders := make([]holder, 0, len(all))
	fair := limit / int64(len(all))
	for _, sess := range all {
		if h := int64(sess.log.Held()); h > fair {
			holders = append(holders, holder{sess, h})
		}
	}
	slices.SortFunc(holders, func(a, b holder) int { return cmp.Compare(b.held, a.held) })
	target := limit - limit/8
	cut := 0
	for _, h := range holders {
		if held <= target {
			break
		}
		s.metrics.errors.WithLabelValues(wire.CodeOverBudget).Inc()
		s.endSession(h.sess, wire.CodeOverBudget)
		held -= h.held
		cut++
	}
	if cut > 0 {
		s.log.Warn("buffer budget spent: ended the sessions holding the most unacknowledged bytes",
			"budget", limit, "ended", cut, "largest", holders[0].held)
	}
}

// defaultBufferBudget is a quarter of the memory this process may use (its
// cgroup's limit, else the machine's), at least 64 MiB, or 1 GiB when
// neither is known.
func defaultBufferBudget() int64 {
	mem := processMemory()
	if mem <= 0 {
		return 1 << 30
	}
	return max(mem/4, 64<<20)
}

// processMemory reads the cgroup (v2, then v1) memory limit and the
// machine's total memory, and returns the smaller one known; 0 when
// neither is (not Linux).
func processMemory() int64 {
	var limits []int64
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(path); err == nil {
			// "max" (v2) and a page-rounded 2^63 (v1) mean no limit.
			if n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && n > 0 && n < 1<<60 {
				limits = append(limits, n)
			}
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// "MemTotal:       24576000 kB"
			if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("MemTotal:")); ok {
				kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))), 10, 64)
				if err == nil && kb > 0 {
					limits = append(limits, kb<<10)
				}
				break
			}
		}
		f.Close()
	}
	if len(limits) == 0 {
		return 0
	}
	return slices.Min(limits)
}
