package stun

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/stun/v2"
)

// Behaviour is how a NAT maps or filters, in RFC 4787's terms.
type Behaviour int

const (
	// BehaviourUnknown: the test could not tell.
	BehaviourUnknown Behaviour = iota
	// EndpointIndependent: the same mapping (or admission) whatever the
	// remote address and port. With no NAT at all, both are this.
	EndpointIndependent
	// AddressDependent: a new mapping (or admission) per remote address.
	AddressDependent
	// AddressAndPortDependent: per remote address and port ("symmetric"
	// for mapping).
	AddressAndPortDependent
)

func (b Behaviour) String() string {
	switch b {
	case EndpointIndependent:
		return "endpoint-independent"
	case AddressDependent:
		return "address-dependent"
	case AddressAndPortDependent:
		return "address-and-port-dependent"
	}
	return "unknown"
}

// NATReport is what RFC 5780's behaviour discovery found.
type NATReport struct {
	Local     *net.UDPAddr // the first test socket's own address
	Mapped    *net.UDPAddr // that socket's address as the server saw it
	Other     *net.UDPAddr // the server's OTHER-ADDRESS
	NAT       bool         // Mapped differs from Local
	Mapping   Behaviour
	Filtering Behaviour
}

// DiscoverConfig says where and how to run the discovery.
type DiscoverConfig struct {
	// Server is the RFC 5780 server's primary address, host:port.
	Server string
	// Listen opens each test's UDP socket. Defaults to an IPv4 socket on
	// an ephemeral port. Mapping and filtering use one socket each: a
	// filtering test on a socket that already sent to the alternate
	// address would find that address let in.
	Listen func() (net.PacketConn, error)
	// Wait is how long one request waits for its answer before it is sent
	// again. Defaults to 300 ms.
	Wait time.Duration
	// Attempts is how often a request is sent before its test counts it
	// unanswered. Defaults to 3.
	Attempts int
}

func (c *DiscoverConfig) setDefaults() {
	if c.Listen == nil {
		c.Listen = func() (net.PacketConn, error) { return net.ListenPacket("udp4", ":0") }
	}
	if c.Wait <= 0 {
		c.Wait = 300 * time.Millisecond
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
}

// DiscoverNAT runs RFC 5780's mapping (section 4.3) and filtering
// (section 4.4) tests against cfg.Server. It fails with errNoAnswer when
// the server never answers (UDP blocked on the way) and with errNoRFC5780
// when it answers without an OTHER-ADDRESS. Every test is bounded by
// cfg.Attempts × cfg.Wait, the whole run by ctx.
func DiscoverNAT(ctx context.Context, cfg DiscoverConfig) (NATReport, error) {
	cfg.setDefaults()
	var r NATReport
	server, err := net.ResolveUDPAddr("udp4", cfg.Server)
	if err != nil {
		return r, err
	}
	conn, err := cfg.Listen()
	if err != nil {
		return r, err
	}
	defer conn.Close()
	r.Local = conn.LocalAddr().(*net.UDPAddr)
	first, err := bindingTest(ctx, cfg, conn, server, 0)
	if err != nil {
		return r, err
	}
	if first == nil {
		return r, fmt.Errorf("%w from %s", errNoAnswer, server)
	}
	r.Mapped, r.Other = first.mapped, first.other
	if r.Other == nil {
		return r, fmt.Errorf("%w: %s", errNoRFC5780, server)
	}
	r.NAT = !sameAddr(r.Mapped, r.Local)
	if r.Mapping, err = mappingTests(ctx, cfg, conn, server, r); err != nil {
		return r, err
	}
	fconn, err := cfg.Listen()
	if err != nil {
		return r, err
	}
	defer fconn.Close()
	r.Filtering, err = filteringTests(ctx, cfg, fconn, server)
	return r, err
}

// mappingTests are RFC 5780 section 4.3's tests II and III on the socket
// of test I.
func mappingTests(ctx context.Context, cfg DiscoverConfig, conn net.PacketConn, server *net.UDPAddr, r NATReport) (Behaviour, error) {
	if !r.NAT {
		return EndpointIndependent, nil
	}
	second, err := bindingTest(ctx, cfg, conn, &net.UDPAddr{IP: r.Other.IP, Port: server.Port}, 0)
	if err != nil || second == nil {
		return BehaviourUnknown, err
	}
	if sameAddr(second.mapped, r.Mapped) {
		return EndpointIndependent, nil
	}
	third, err := bindingTest(ctx, cfg, conn, r.Other, 0)
	if err != nil || third == nil {
		return BehaviourUnknown, err
	}
	if sameAddr(third.mapped, second.mapped) {
		return AddressDependent, nil
	}
	return AddressAndPortDependent, nil
}

// filteringTests are section 4.4's: a fresh socket asks the server to
// answer from its other address and port, then from its other port only.
func filteringTests(ctx context.Context, cfg DiscoverConfig, conn net.PacketConn, server *net.UDPAddr) (Behaviour, error) {
	first, err := bindingTest(ctx, cfg, conn, server, 0)
	if err != nil || first == nil {
		return BehaviourUnknown, err
	}
	both, err := bindingTest(ctx, cfg, conn, server, changeIP|changePort)
	if err != nil {
		return BehaviourUnknown, err
	}
	if both != nil {
		return EndpointIndependent, nil
	}
	port, err := bindingTest(ctx, cfg, conn, server, changePort)
	if err != nil {
		return BehaviourUnknown, err
	}
	if port != nil {
		return AddressDependent, nil
	}
	return AddressAndPortDependent, nil
}

// bindingAnswer is what one Binding response said.
type bindingAnswer struct {
	mapped, other *net.UDPAddr
}

// bindingTest sends a Binding request (with CHANGE-REQUEST flags when
// non-zero) until an answer comes or cfg.Attempts have gone unanswered:
// then it returns nil and no error. Only ctx ending is an error.
func bindingTest(ctx context.Context, cfg DiscoverConfig, conn net.PacketConn, to *net.UDPAddr, flags uint32) (*bindingAnswer, error) {
	setters := []stun.Setter{stun.TransactionID, stun.BindingRequest}
	if flags != 0 {
		v := make([]byte, 4)
		binary.BigEndian.PutUint32(v, flags)
		setters = append(setters, stun.RawAttribute{Type: stun.AttrChangeRequest, Value: v})
	}
	req, err := stun.Build(append(setters, stun.Fingerprint)...)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 1500)
	for range cfg.Attempts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := conn.WriteTo(req.Raw, to); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(cfg.Wait)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		_ = conn.SetReadDeadline(deadline)
		for {
			n, _, err := conn.ReadFrom(buf)
			if isTimeout(err) {
				break // send again
			}
			if err != nil {
				return nil, err
			}
			if a, ok := decodeAnswer(buf[:n], req.TransactionID); ok {
				return a, nil
			}
		}
	}
	return nil, ctx.Err()
}

func decodeAnswer(b []byte, id [stun.TransactionIDSize]byte) (*bindingAnswer, bool) {
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil || m.TransactionID != id || m.Type != stun.BindingSuccess {
		return nil, false // a stray or late datagram
	}
	var xor stun.XORMappedAddress
	if xor.GetFrom(m) != nil {
		return nil, false
	}
	a := &bindingAnswer{mapped: &net.UDPAddr{IP: xor.IP, Port: xor.Port}}
	var other stun.MappedAddress
	if other.GetFromAs(m, stun.AttrOtherAddress) == nil {
		a.other = &net.UDPAddr{IP: other.IP, Port: other.Port}
	}
	return a, true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func sameAddr(a, b *net.UDPAddr) bool {
	return a != nil && b != nil && a.Port == b.Port && a.IP.Equal(b.IP)
}
