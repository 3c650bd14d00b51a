// Command stunload is the project's STUN/TURN load generator. In binding
// mode SOCKETS UDP sockets each keep WINDOW Binding requests in flight
// against one server for DURATION, and it prints answered requests per
// second; in alloc mode SOCKETS workers each make and release allocations
// (Allocate, Refresh 0) with REST credentials from SECRET. It is for
// benchmarks (scripts/bench-turn.sh), never aimed at servers you do not
// run.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const (
	headerLen    = 20
	magicCookie  = 0x2112A442
	bindingReq   = 0x0001
	bindingResp  = 0x0101
	resendAfter  = 200 * time.Millisecond // a lost request's slot is refilled after this
	maxDuration  = 10 * time.Minute
	maxSockets   = 1024
	maxWindow    = 1024
	readBufBytes = 1500
)

var errUsage = errors.New("usage")

func main() {
	server := flag.String("server", "127.0.0.1:3478", "STUN server UDP address")
	sockets := flag.Int("sockets", 8, "client sockets")
	window := flag.Int("window", 16, "requests in flight per socket")
	duration := flag.Duration("duration", 10*time.Second, "how long to load")
	mode := flag.String("mode", "binding", "binding or alloc")
	secret := flag.String("secret", "", "TURN REST secret (alloc mode)")
	flag.Parse()
	if *sockets < 1 || *sockets > maxSockets || *window < 1 || *window > maxWindow || *duration <= 0 || *duration > maxDuration {
		fmt.Fprintf(os.Stderr, "stunload: %v: sockets 1-%d, window 1-%d, duration up to %v\n", errUsage, maxSockets, maxWindow, maxDuration)
		os.Exit(2)
	}
	addr, err := net.ResolveUDPAddr("udp", *server)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stunload:", err)
		os.Exit(2)
	}
	var answered, sent atomic.Uint64
	deadline := time.Now().Add(*duration)
	if *mode == "alloc" {
		os.Exit(runAlloc(*server, *sockets, *secret, deadline))
	}
	var wg sync.WaitGroup
	errs := make(chan error, *sockets)
	for i := range *sockets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := load(addr, uint32(i), *window, deadline, &answered, &sent); err != nil {
				errs <- err
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		fmt.Fprintln(os.Stderr, "stunload:", err)
		os.Exit(1)
	}
	fmt.Printf("stunload: answered=%d sent=%d seconds=%.2f rate=%.0f/s\n",
		answered.Load(), sent.Load(), elapsed.Seconds(), float64(answered.Load())/elapsed.Seconds())
}

// load runs one socket until deadline.
func load(server *net.UDPAddr, id uint32, window int, deadline time.Time, answered, sent *atomic.Uint64) error {
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	req := make([]byte, headerLen)
	binary.BigEndian.PutUint16(req[0:2], bindingReq)
	binary.BigEndian.PutUint32(req[4:8], magicCookie)
	binary.BigEndian.PutUint32(req[8:12], id)
	var seq uint64
	send := func() error {
		seq++
		binary.BigEndian.PutUint64(req[12:20], seq)
		_, err := conn.WriteToUDP(req, server)
		if err == nil {
			sent.Add(1)
		}
		return err
	}
	fill := func() error {
		for range window {
			if err := send(); err != nil {
				return err
			}
		}
		return nil
	}
	if err := fill(); err != nil {
		return err
	}
	buf := make([]byte, readBufBytes)
	for time.Now().Before(deadline) {
		_ = conn.SetReadDeadline(time.Now().Add(resendAfter))
		n, err := conn.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if err := fill(); err != nil { // the window was lost: refill it
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if n >= headerLen && binary.BigEndian.Uint16(buf[0:2]) == bindingResp {
			answered.Add(1)
			if err := send(); err != nil {
				return err
			}
		}
	}
	return nil
}

func runAlloc(server string, workers int, secret string, deadline time.Time) int {
	var done, failed atomic.Uint64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = allocLoad(server, i, secret, deadline, &done, &failed)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("stunload: allocations=%d failed=%d seconds=%.2f rate=%.0f/s\n",
		done.Load(), failed.Load(), elapsed.Seconds(), float64(done.Load())/elapsed.Seconds())
	return 0
}
