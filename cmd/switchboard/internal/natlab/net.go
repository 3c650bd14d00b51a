package natlab

import (
	"context"
	"net"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// Net is pion's transport.Net inside one namespace: a pion peer given it
// (SettingEngine.SetNet) gathers the namespace's interfaces and opens its
// sockets there, so peers in several client networks share this process.
type Net struct {
	*stdnet.Net // interfaces read inside ns; Resolve* need no namespace
	ns          string
}

var _ transport.Net = (*Net)(nil)

// NewNet reads ns's interfaces and returns its Net.
func NewNet(ns string) (*Net, error) {
	n := &Net{ns: ns}
	err := Do(ns, func() (err error) {
		n.Net, err = stdnet.NewNet()
		return err
	})
	return n, err
}

// in runs open inside the namespace and returns what it opened.
func in[T any](ns string, open func() (T, error)) (T, error) {
	var v T
	err := Do(ns, func() (err error) {
		v, err = open()
		return err
	})
	return v, err
}

// ListenPacket opens a packet socket inside the namespace.
func (n *Net) ListenPacket(network, address string) (net.PacketConn, error) {
	return in(n.ns, func() (net.PacketConn, error) { return n.Net.ListenPacket(network, address) })
}

// ListenUDP opens a UDP socket inside the namespace.
func (n *Net) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	return in(n.ns, func() (transport.UDPConn, error) { return n.Net.ListenUDP(network, laddr) })
}

// ListenTCP listens inside the namespace.
func (n *Net) ListenTCP(network string, laddr *net.TCPAddr) (transport.TCPListener, error) {
	return in(n.ns, func() (transport.TCPListener, error) { return n.Net.ListenTCP(network, laddr) })
}

// Dial connects from inside the namespace.
func (n *Net) Dial(network, address string) (net.Conn, error) {
	return in(n.ns, func() (net.Conn, error) { return n.Net.Dial(network, address) })
}

// DialUDP connects a UDP socket from inside the namespace.
func (n *Net) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	return in(n.ns, func() (transport.UDPConn, error) { return n.Net.DialUDP(network, laddr, raddr) })
}

// dialTimeout bounds a TCP connect: the lab's firewalls drop what they
// refuse, and pion dials TURN over TCP without a deadline (a peer's Close
// would wait out the kernel's two minutes of SYN retries).
const dialTimeout = 5 * time.Second

// DialTCP connects from inside the namespace, giving up after dialTimeout.
func (n *Net) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	return in(n.ns, func() (transport.TCPConn, error) {
		d := net.Dialer{Timeout: dialTimeout}
		if laddr != nil {
			d.LocalAddr = laddr
		}
		c, err := d.Dial(network, raddr.String())
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	})
}

// DialContext connects from inside the namespace: a net.Dialer's
// DialContext for HTTP and WebSocket clients.
func (n *Net) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return in(n.ns, func() (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	})
}

// CreateDialer returns a dialer whose connections start inside the namespace.
func (n *Net) CreateDialer(d *net.Dialer) transport.Dialer { return nsDialer{d, n.ns} }

// CreateListenConfig returns a ListenConfig whose sockets are the namespace's.
func (n *Net) CreateListenConfig(lc *net.ListenConfig) transport.ListenConfig {
	return nsListenConfig{lc, n.ns}
}

type nsDialer struct {
	d  *net.Dialer
	ns string
}

func (d nsDialer) Dial(network, address string) (net.Conn, error) {
	return in(d.ns, func() (net.Conn, error) { return d.d.Dial(network, address) })
}

type nsListenConfig struct {
	lc *net.ListenConfig
	ns string
}

func (c nsListenConfig) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return in(c.ns, func() (net.Listener, error) { return c.lc.Listen(ctx, network, address) })
}

func (c nsListenConfig) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	return in(c.ns, func() (net.PacketConn, error) { return c.lc.ListenPacket(ctx, network, address) })
}
