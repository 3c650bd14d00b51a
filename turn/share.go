package turn

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ALPNTURN is RFC 7443's protocol name for TURN over TLS.
const ALPNTURN = "stun.turn"

// shareHandshakeTimeout bounds a connection's TLS handshake and, without
// ALPN, the wait for its first byte: until then it holds a goroutine.
const shareHandshakeTimeout = 10 * time.Second

// maxHandshakesPerIP caps the connections one source (IPv6 by /64) may
// have handshaking at once: before the handshake neither the HTTP
// server's nor the relay's per-address limit sees them. Past it a new
// connection is closed at once.
const maxHandshakesPerIP = 32

// SharedTLS terminates TLS on one listener (the HTTPS port) and splits its
// connections between HTTP and TURN: networks that let only TCP 443 out
// reach the relay there. A connection is TURN when it negotiated ALPN
// stun.turn (RFC 7443) or, without ALPN, when its first decrypted byte
// begins a STUN message (its two top bits zero: no HTTP method starts so).
// Handshakes run off the accept loop, each bounded by a deadline.
type SharedTLS struct {
	ln   net.Listener
	cfg  *tls.Config
	http *chanListener
	turn *chanListener

	mu      sync.Mutex
	pending map[net.Conn]struct{} // connections still handshaking
	perIP   map[netip.Addr]int    // of them, per source
	refused atomic.Uint64
	closed  bool
	wg      sync.WaitGroup
}

// Refused counts connections closed unhandshaken because their source had
// maxHandshakesPerIP under way.
func (s *SharedTLS) Refused() uint64 { return s.refused.Load() }

// ShareTLS starts splitting ln's connections. cfg serves the certificate;
// its NextProtos get stun.turn added (and h2, http/1.1 when it has none).
// Close the HTTP side (or the SharedTLS) to stop: it closes ln.
func ShareTLS(ln net.Listener, cfg *tls.Config) *SharedTLS {
	cfg = cfg.Clone()
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	if !slices.Contains(cfg.NextProtos, ALPNTURN) {
		cfg.NextProtos = append(cfg.NextProtos, ALPNTURN)
	}
	s := &SharedTLS{ln: ln, cfg: cfg, pending: map[net.Conn]struct{}{}, perIP: map[netip.Addr]int{}}
	s.http = newChanListener(ln.Addr(), s.Close)
	s.turn = newChanListener(ln.Addr(), nil)
	s.wg.Add(1)
	go s.accept()
	return s
}

// HTTP is the listener for http.Server.Serve. Its connections are
// *tls.Conn, except those without ALPN (read ahead by one byte): give the
// server ConnContext and the handler RestoreTLS so their requests still
// carry r.TLS.
func (s *SharedTLS) HTTP() net.Listener { return s.http }

// TURN is the listener for the relay's TLS listeners (Config.TLS): TLS
// already terminated.
func (s *SharedTLS) TURN() net.Listener { return s.turn }

// TLSConfig is the configuration handshakes use (with stun.turn).
func (s *SharedTLS) TLSConfig() *tls.Config { return s.cfg }

// Close stops accepting, ends connections still handshaking and closes
// both sides.
func (s *SharedTLS) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.pending {
		c.Close()
	}
	s.mu.Unlock()
	s.http.shut()
	s.turn.shut() // before the wait: a handshake done may be waiting to be taken
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *SharedTLS) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return
		}
		ip := sourceKey(c.RemoteAddr())
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		if s.perIP[ip] >= maxHandshakesPerIP {
			s.mu.Unlock()
			s.refused.Add(1)
			c.Close()
			continue
		}
		s.perIP[ip]++
		s.pending[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.sort(c)
	}
}

// sort handshakes c and hands it to the side it belongs to.
func (s *SharedTLS) sort(raw net.Conn) {
	defer s.wg.Done()
	conn, turn := s.classify(raw)
	ip := sourceKey(raw.RemoteAddr())
	s.mu.Lock()
	delete(s.pending, raw)
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	closed := s.closed
	s.mu.Unlock()
	if conn == nil || closed {
		raw.Close()
		return
	}
	side := s.http
	if turn {
		side = s.turn
	}
	if !side.deliver(conn) {
		conn.Close()
	}
}

// classify returns the connection to hand on (nil to drop it) and
// whether it is TURN.
func (s *SharedTLS) classify(raw net.Conn) (net.Conn, bool) {
	_ = raw.SetDeadline(time.Now().Add(shareHandshakeTimeout))
	tc := tls.Server(raw, s.cfg)
	if err := tc.Handshake(); err != nil {
		return nil, false
	}
	switch tc.ConnectionState().NegotiatedProtocol {
	case ALPNTURN:
		_ = raw.SetDeadline(time.Time{})
		return tc, true
	case "":
	default: // h2, http/1.1: a browser or an HTTP client
		_ = raw.SetDeadline(time.Time{})
		return tc, false
	}
	br := bufio.NewReaderSize(tc, 512)
	first, err := br.Peek(1)
	_ = raw.SetDeadline(time.Time{})
	if err != nil {
		return nil, false
	}
	return &sniffedConn{Conn: tc, r: br}, first[0]&0xC0 == 0
}

// sniffedConn is a TLS connection whose first bytes were read ahead.
type sniffedConn struct {
	*tls.Conn
	r *bufio.Reader
}

func (c *sniffedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

type tlsStateKey struct{}

// ConnContext is http.Server.ConnContext for the HTTP side: it keeps a
// read-ahead connection's TLS state where RestoreTLS finds it.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if sc, ok := c.(*sniffedConn); ok {
		return context.WithValue(ctx, tlsStateKey{}, sc.Conn)
	}
	return ctx
}

// RestoreTLS sets r.TLS for requests on read-ahead connections, which
// net/http does not recognise as TLS: scheme and origin checks see HTTPS.
func RestoreTLS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			if tc, ok := r.Context().Value(tlsStateKey{}).(*tls.Conn); ok {
				st := tc.ConnectionState()
				r.TLS = &st
			}
		}
		next.ServeHTTP(w, r)
	})
}

// chanListener is a net.Listener fed connections by SharedTLS.
type chanListener struct {
	addr    net.Addr
	conns   chan net.Conn
	done    chan struct{}
	once    sync.Once
	onClose func() error
}

func newChanListener(addr net.Addr, onClose func() error) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{}), onClose: onClose}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// deliver waits for Accept to take c; false once the listener is closed.
func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) shut() { l.once.Do(func() { close(l.done) }) }

// Close closes this side; closing the HTTP side closes the whole split.
func (l *chanListener) Close() error {
	l.shut()
	if l.onClose != nil {
		return l.onClose()
	}
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
