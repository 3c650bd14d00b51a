package redis

import (
	"context"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// pipeliner sends the scripts of concurrent callers to Redis together:
// whatever calls wait while a batch is on the wire leave as the next
// batch, one write and one read for all of them. Redis then reads and
// answers many calls per event-loop turn instead of one, which is most
// of its CPU per relay (docs/cluster.md, "Round trips"). There is no
// flush timer: an idle node sends a lone call at once, a busy one
// batches as much as its load brings.
type pipeliner struct {
	rdb     goredis.UniversalClient
	calls   chan *call
	timeout time.Duration
	stop    chan struct{} // closed by close: the workers send what is queued and return
	gone    chan struct{} // closed when every worker has returned
	workers sync.WaitGroup
}

// call is one script run waiting for its batch.
type call struct {
	script *goredis.Script
	keys   []string
	args   []any
	cmd    *goredis.Cmd
	done   chan struct{}
}

const (
	// pipeWorkers batches may be on the wire at once: while one waits
	// for Redis, the next fills.
	pipeWorkers = 4
	// maxPipeBatch bounds one batch, so that one slow batch delays few
	// calls.
	maxPipeBatch = 256
)

func newPipeliner(rdb goredis.UniversalClient, timeout time.Duration) *pipeliner {
	p := &pipeliner{rdb: rdb, calls: make(chan *call, 4*maxPipeBatch), timeout: timeout,
		stop: make(chan struct{}), gone: make(chan struct{})}
	p.workers.Add(pipeWorkers)
	for range pipeWorkers {
		go func() { defer p.workers.Done(); p.loop() }()
	}
	return p
}

// close stops the workers once the calls already queued are sent, and
// waits for them.
func (p *pipeliner) close() {
	close(p.stop)
	p.workers.Wait()
	close(p.gone)
}

// run queues a script run and waits for its answer. After close it fails
// with goredis.ErrClosed.
func (p *pipeliner) run(script *goredis.Script, keys []string, args []any) *goredis.Cmd {
	c := &call{script: script, keys: keys, args: args, done: make(chan struct{})}
	closed := func() *goredis.Cmd {
		cmd := goredis.NewCmd(context.Background())
		cmd.SetErr(goredis.ErrClosed)
		return cmd
	}
	select {
	case <-p.stop:
		return closed()
	case p.calls <- c:
	}
	select {
	case <-c.done:
		return c.cmd
	case <-p.gone: // queued after the workers' last look
		select {
		case <-c.done:
			return c.cmd
		default:
			return closed()
		}
	}
}

// loop sends batches until close, then what is left; one runs per
// worker.
func (p *pipeliner) loop() {
	batch := make([]*call, 0, maxPipeBatch)
	for {
		select {
		case <-p.stop:
			select {
			case c := <-p.calls: // queued before close: still answered
				batch = append(batch, c)
			default:
				return
			}
		case c := <-p.calls:
			batch = append(batch, c)
		}
	more:
		for len(batch) < maxPipeBatch {
			select {
			case c := <-p.calls:
				batch = append(batch, c)
			default:
				break more
			}
		}
		p.exec(batch)
		for i, c := range batch {
			close(c.done)
			batch[i] = nil
		}
		batch = batch[:0]
	}
}

// exec runs one batch as a pipeline of EVALSHAs. Calls whose script
// Redis does not have yet (a new or restarted Redis) did not run, so they
// run again with EVAL, which loads it.
func (p *pipeliner) exec(batch []*call) {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	_, _ = p.rdb.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		for _, c := range batch {
			c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
		}
		return nil
	})
	var again []*call
	for _, c := range batch {
		if err := c.cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			again = append(again, c)
		}
	}
	if len(again) == 0 {
		return
	}
	_, _ = p.rdb.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		for _, c := range again {
			c.cmd = c.script.Eval(ctx, pipe, c.keys, c.args...)
		}
		return nil
	})
}
