package turn

import (
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v2"
	"github.com/pion/turn/v4"
)

// rawClient speaks STUN/TURN by hand over UDP, so tests can see exact
// error codes and replay a NONCE from another address.
type rawClient struct {
	t          *testing.T
	conn       net.PacketConn
	server     net.Addr
	user, pass string
	realm      string
	nonce      string
}

func newRawClient(t *testing.T, server, user, pass string) *rawClient {
	t.Helper()
	return newRawClientFrom(t, "127.0.0.1", server, user, pass)
}

func newRawClientFrom(t *testing.T, local, server, user, pass string) *rawClient {
	t.Helper()
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(local, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	addr, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		t.Fatal(err)
	}
	return &rawClient{t: t, conn: conn, server: addr, user: user, pass: pass}
}

// roundTrip sends m and waits for the answer with its transaction ID.
func (c *rawClient) roundTrip(m *stun.Message) *stun.Message {
	c.t.Helper()
	if _, err := c.conn.WriteTo(m.Raw, c.server); err != nil {
		c.t.Fatal(err)
	}
	buf := make([]byte, 1500)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			c.t.Fatalf("no answer to %v: %v", m.Type, err)
		}
		resp := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if resp.Decode() == nil && resp.TransactionID == m.TransactionID {
			return resp
		}
	}
}

// request sends an authenticated request, learning realm and nonce from a
// first 401 if it has none yet. It returns the answer's error code, 0 on
// success.
func (c *rawClient) request(method stun.Method, attrs ...stun.Setter) (int, *stun.Message) {
	c.t.Helper()
	if c.nonce == "" {
		resp := c.roundTrip(c.build(method, false, attrs...))
		c.learn(resp)
	}
	resp := c.roundTrip(c.build(method, true, attrs...))
	return errorCode(resp), resp
}

func (c *rawClient) learn(resp *stun.Message) {
	var nonce stun.Nonce
	var realm stun.Realm
	if nonce.GetFrom(resp) == nil {
		c.nonce = nonce.String()
	}
	if realm.GetFrom(resp) == nil {
		c.realm = realm.String()
	}
}

func (c *rawClient) build(method stun.Method, auth bool, attrs ...stun.Setter) *stun.Message {
	c.t.Helper()
	setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
	if auth {
		key := turn.GenerateAuthKey(c.user, c.realm, c.pass)
		setters = append(setters, stun.NewUsername(c.user), stun.NewRealm(c.realm), stun.NewNonce(c.nonce),
			stun.MessageIntegrity(key), stun.Fingerprint)
	}
	m, err := stun.Build(setters...)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

func errorCode(m *stun.Message) int {
	if m.Type.Class != stun.ClassErrorResponse {
		return 0
	}
	var code stun.ErrorCodeAttribute
	if code.GetFrom(m) != nil {
		return -1
	}
	return int(code.Code)
}

// requestedUDP is REQUESTED-TRANSPORT: UDP.
var requestedUDP = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

func peerAttr(ip string, port int) stun.Setter {
	return &xorPeer{stun.XORMappedAddress{IP: net.ParseIP(ip), Port: port}}
}

type xorPeer struct{ stun.XORMappedAddress }

func (p *xorPeer) AddTo(m *stun.Message) error { return p.AddToAs(m, stun.AttrXORPeerAddress) }

func channelNumber(n uint16) stun.Setter {
	return stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{byte(n >> 8), byte(n), 0, 0}}
}
