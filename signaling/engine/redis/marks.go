package redis

import (
	"sync"
	"time"
)

// markBatcher sends the taken marks and acks of every log on the node in
// one script run: the marks of markLinger, and while a batch is on the
// wire the next one gathers, so that a mark costs a fraction of a call
// at any rate. Nothing waits for them but Redis's count of what each log
// may drop: a log's own scripts (append, read, resume) take its marks
// along. A mark that Redis did not take waits for the next
// batch; a Resume waits for its log's marks on the wire and drops those
// still waiting (redisLog.Resume).
type markBatcher struct {
	r    *Engine
	kick chan struct{} // a log was queued

	mu     sync.Mutex
	queued []*redisLog
	failed []*redisLog // marks Redis did not take, for when it is back
}

const (
	// maxMarkBatch bounds the logs of one script run.
	maxMarkBatch = 512
	// markLinger is how long marks gather before they leave.
	markLinger = 5 * time.Millisecond
)

func newMarkBatcher(r *Engine) *markBatcher {
	return &markBatcher{r: r, kick: make(chan struct{}, 1)}
}

func (m *markBatcher) queue(l *redisLog) {
	m.mu.Lock()
	m.queued = append(m.queued, l)
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// loop sends batches until stop closes, then the last one.
func (m *markBatcher) loop(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			m.flush()
			return
		case <-m.kick:
			t := time.NewTimer(markLinger)
			select {
			case <-stop:
			case <-t.C:
			}
			t.Stop()
			m.flush()
		}
	}
}

// flush sends every queued log's marks.
func (m *markBatcher) flush() {
	m.mu.Lock()
	logs := m.queued
	m.queued = nil
	m.mu.Unlock()
	byShard := map[*shard][]*redisLog{}
	for _, l := range logs {
		sh := l.shard()
		byShard[sh] = append(byShard[sh], l)
	}
	for sh, logs := range byShard {
		for len(logs) > 0 {
			n := min(len(logs), maxMarkBatch)
			m.send(sh, logs[:n])
			logs = logs[n:]
		}
	}
}

// send runs the marks script on sh for logs: id, taken mark, ack and
// applied for each.
func (m *markBatcher) send(sh *shard, logs []*redisLog) {
	args := make([]any, 0, 4*len(logs))
	type sent struct{ taken, ack, applied uint64 }
	marks := make([]sent, len(logs))
	for i, l := range logs {
		l.mu.Lock()
		marks[i] = sent{l.pendingTaken, l.pendingAck, l.pendingApplied}
		l.pendingTaken, l.pendingAck, l.pendingApplied = 0, 0, 0
		l.queued = false
		l.flushing = true
		l.mu.Unlock()
		args = append(args, l.id, marks[i].taken, marks[i].ack, marks[i].applied)
	}
	err := sh.run(scriptMarks, nil, args...).Err()
	for i, l := range logs {
		l.mu.Lock()
		l.flushing = false
		if err != nil { // kept, with any newer ones, for when Redis is back
			l.pendingTaken = max(l.pendingTaken, marks[i].taken)
			l.pendingAck = max(l.pendingAck, marks[i].ack)
			l.pendingApplied = max(l.pendingApplied, marks[i].applied)
			l.queued = true
		}
		l.flushed.Broadcast()
		l.mu.Unlock()
	}
	if err != nil {
		m.mu.Lock()
		m.failed = append(m.failed, logs...)
		m.mu.Unlock()
	}
}

// retry queues again the marks Redis did not take: it is back.
func (m *markBatcher) retry() {
	m.mu.Lock()
	m.queued = append(m.queued, m.failed...)
	m.failed = nil
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}
