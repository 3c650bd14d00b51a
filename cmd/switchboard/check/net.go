package check

import (
	"net"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
)

// dialNet is pion's standard network with a deadline on TCP connects.
// pion dials TURN over TCP without one, and Close waits for the dial: from
// a network that drops SYNs to the relay's TCP port (one that lets only
// 443 out) the check took the kernel's two minutes of retries to end.
type dialNet struct {
	*stdnet.Net
	timeout time.Duration
}

func (n dialNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	d := net.Dialer{Timeout: n.timeout}
	if laddr != nil {
		d.LocalAddr = laddr
	}
	c, err := d.Dial(network, raddr.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// peerAPI builds the check's pion API on dialNet.
func peerAPI(cfg Config) (*webrtc.API, error) {
	std, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	se.SetNet(dialNet{Net: std, timeout: cfg.Timeout})
	return webrtc.NewAPI(webrtc.WithSettingEngine(se)), nil
}
