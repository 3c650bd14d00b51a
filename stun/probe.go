package stun

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/pion/stun/v2"
)

// Probe sends one STUN Binding request to addr over UDP and waits, until
// ctx ends (at most 5 s), for its success response: the health check of a
// relay host.
func Probe(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok || time.Until(deadline) > 5*time.Second {
		deadline = time.Now().Add(5 * time.Second)
	}
	_ = conn.SetDeadline(deadline)
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return err
	}
	if _, err := conn.Write(req.Raw); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	for { // ends at the deadline
		n, err := conn.Read(buf)
		if err != nil {
			return err
		}
		resp := stun.Message{Raw: buf[:n]}
		if resp.Decode() != nil || resp.TransactionID != req.TransactionID {
			continue // not the answer: a stray packet
		}
		if resp.Type != stun.BindingSuccess {
			return fmt.Errorf("%w: %s answered %s", errProbe, addr, resp.Type)
		}
		return nil
	}
}
