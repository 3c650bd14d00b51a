package call_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/client"
	"github.com/switchboard-rtc/switchboard/signaling/client/call"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitFor = 15 * time.Second

func startServer(t *testing.T) string {
	t.Helper()
	srv, err := signaling.New(signaling.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ConnState: srv.ConnState}
	served := make(chan struct{})
	go func() { defer close(served); _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = hs.Shutdown(ctx)
		_ = srv.Shutdown(ctx)
		<-served
	})
	return "http://" + ln.Addr().String()
}

// loopbackAPI gathers host candidates on 127.0.0.1 only: the test needs
// no other network.
func loopbackAPI() *webrtc.API {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

// party is one Go program in the call: its client, its room, the data
// channel messages it got, the tracks it received.
type party struct {
	c      *client.Client
	room   *call.Room
	mu     sync.Mutex
	got    chan string
	tracks chan string
	opened chan *webrtc.DataChannel
}

func joinParty(t *testing.T, url, room string, setup func(p *call.Peer) error) *party {
	t.Helper()
	return joinPartyWith(t, url, room, call.Config{
		API:    loopbackAPI(),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("party", room),
	}, setup)
}

func joinPartyWith(t *testing.T, url, room string, cfg call.Config, setup func(p *call.Peer) error) *party {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := client.Dial(ctx, url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pt := &party{c: c, got: make(chan string, 64), tracks: make(chan string, 8), opened: make(chan *webrtc.DataChannel, 8)}
	cfg.Setup = func(p *call.Peer) error {
		p.Conn().OnDataChannel(pt.serveChannel)
		p.Conn().OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			// A track counts once media arrives on it: kind and payload.
			pkt, _, err := tr.ReadRTP()
			if err == nil {
				pt.tracks <- fmt.Sprintf("%s %x", tr.Kind(), pkt.Payload)
			}
		})
		if setup != nil {
			return setup(p)
		}
		return nil
	}
	pt.room, err = call.Join(ctx, c, room, client.JoinOptions{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range pt.room.Events() { // drained: the room acts on them
		}
	}()
	t.Cleanup(func() {
		_ = pt.room.Close()
		_ = c.Close()
	})
	return pt
}

func (pt *party) serveChannel(dc *webrtc.DataChannel) {
	dc.OnOpen(func() { pt.opened <- dc })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { pt.got <- string(m.Data) })
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("no %s within %s", what, waitFor)
		var zero T
		return zero
	}
}

// TestCallDataBothWays: a Go program already in the room is called by a
// newcomer that opens a data channel; messages go both ways; then the
// newcomer restarts ICE and the channel goes on.
func TestCallDataBothWays(t *testing.T) {
	url := startServer(t)
	a := joinParty(t, url, "data", nil)
	bOpen := make(chan *webrtc.DataChannel, 1)
	stable := make(chan struct{}, 16)
	b := joinParty(t, url, "data", func(p *call.Peer) error {
		p.Conn().OnSignalingStateChange(func(s webrtc.SignalingState) {
			if s == webrtc.SignalingStateStable {
				stable <- struct{}{}
			}
		})
		dc, err := p.Conn().CreateDataChannel("chat", nil)
		if err != nil {
			return err
		}
		dc.OnOpen(func() { bOpen <- dc })
		return nil
	})
	bdc := receive(t, bOpen, "b's data channel open")
	adc := receive(t, a.opened, "a's data channel open")
	bdc.OnMessage(func(m webrtc.DataChannelMessage) { b.got <- string(m.Data) })
	must(t, bdc.SendText("hello from b"))
	if got := receive(t, a.got, "b's message"); got != "hello from b" {
		t.Fatalf("a got %q", got)
	}
	must(t, adc.SendText("hello from a"))
	if got := receive(t, b.got, "a's message"); got != "hello from a" {
		t.Fatalf("b got %q", got)
	}

	peer := b.room.Peer(a.c.Session())
	before := iceUfrag(peer.Conn().RemoteDescription().SDP)
	for len(stable) > 0 {
		<-stable
	}
	peer.RestartICE()
	receive(t, stable, "stable after the restart's answer")
	if after := iceUfrag(peer.Conn().RemoteDescription().SDP); after == before {
		t.Fatalf("the answer to an ICE restart kept ufrag %q", after)
	}
	must(t, bdc.SendText("after restart"))
	if got := receive(t, a.got, "message after the restart"); got != "after restart" {
		t.Fatalf("a got %q", got)
	}
}

// iceUfrag is the first a=ice-ufrag of sdp.
func iceUfrag(sdp string) string {
	_, rest, _ := strings.Cut(sdp, "a=ice-ufrag:")
	ufrag, _, _ := strings.Cut(rest, "\r\n")
	return ufrag
}

// collisions counts the glare a room's logger reports.
type collisions struct {
	slog.Handler
	n *atomic.Int32
}

func (c collisions) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "colliding offer") {
		c.n.Add(1)
	}
	return c.Handler.Handle(ctx, r)
}

// TestCallGlare: both sides call each other at once (CallNewcomers),
// each with a video track: perfect negotiation settles the glare and
// each side receives the other's track.
func TestCallGlare(t *testing.T) {
	url := startServer(t)
	var glare atomic.Int32
	setup := func(p *call.Peer) error {
		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "glare")
		if err != nil {
			return err
		}
		pc := p.Conn()
		if _, err := pc.AddTrack(track); err != nil {
			return err
		}
		go func() {
			for i := range 750 { // bounded: 15 s of packets at most
				if pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
					return
				}
				_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i * 3000)}, Payload: []byte{0x10, 0, 0, 0}})
				time.Sleep(20 * time.Millisecond) // a frame every 20 ms, as a camera would
			}
		}()
		return nil
	}
	cfg := func() call.Config {
		return call.Config{API: loopbackAPI(), CallNewcomers: true,
			Logger: slog.New(collisions{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}), &glare})}
	}
	a := joinPartyWith(t, url, "glare", cfg(), setup)
	b := joinPartyWith(t, url, "glare", cfg(), setup)
	if k := receive(t, a.tracks, "a's remote track"); !strings.HasPrefix(k, "video ") {
		t.Fatalf("a got %s", k)
	}
	if k := receive(t, b.tracks, "b's remote track"); !strings.HasPrefix(k, "video ") {
		t.Fatalf("b got %s", k)
	}
	t.Logf("%d colliding offers", glare.Load())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestLoopback: a peer in a room with a Loopback peer gets its own
// video packets and data channel messages back, and is asked for a
// keyframe when its video starts and whenever it asks for one of the
// video it gets back.
func TestLoopback(t *testing.T) {
	url := startServer(t)
	joinPartyWith(t, url, "loop", call.Config{API: loopbackAPI()}, call.Loopback)
	sent := []byte{0x10, 0x02, 0x00, 0x9d}
	opened := make(chan *webrtc.DataChannel, 1)
	asked := make(chan uint32, 16) // the SSRCs of the keyframe requests b got
	var bpc *webrtc.PeerConnection
	var bsender *webrtc.RTPSender
	b := joinParty(t, url, "loop", func(p *call.Peer) error {
		pc := p.Conn()
		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "b")
		if err != nil {
			return err
		}
		sender, err := pc.AddTrack(track)
		if err != nil {
			return err
		}
		bpc, bsender = pc, sender
		go func() { // ends when the connection does
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, pkt := range pkts {
					if pli, ok := pkt.(*rtcp.PictureLossIndication); ok {
						select {
						case asked <- pli.MediaSSRC:
						default:
						}
					}
				}
			}
		}()
		dc, err := pc.CreateDataChannel("echo", nil)
		if err != nil {
			return err
		}
		dc.OnOpen(func() { opened <- dc })
		go func() {
			for i := range 750 { // bounded: 15 s of packets at most
				if pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
					return
				}
				_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i * 3000)}, Payload: sent})
				time.Sleep(20 * time.Millisecond) // a frame every 20 ms, as a camera would
			}
		}()
		return nil
	})
	dc := receive(t, opened, "data channel to the loopback peer")
	echoed := make(chan string, 4)
	dc.OnMessage(func(m webrtc.DataChannelMessage) { echoed <- string(m.Data) })
	must(t, dc.SendText("ping"))
	if got := receive(t, echoed, "data echo"); got != "ping" {
		t.Fatalf("echo %q", got)
	}
	if k := receive(t, b.tracks, "the looped-back track"); k != fmt.Sprintf("video %x", sent) {
		t.Fatalf("got %s back, want video %x", k, sent)
	}
	own := uint32(bsender.GetParameters().Encodings[0].SSRC)
	if ssrc := receive(t, asked, "keyframe request when the video started"); ssrc != own {
		t.Fatalf("keyframe asked for SSRC %d, want b's video %d", ssrc, own)
	}
	var looped uint32
	for _, r := range bpc.GetReceivers() {
		if tr := r.Track(); tr != nil && tr.Kind() == webrtc.RTPCodecTypeVideo {
			looped = uint32(tr.SSRC())
		}
	}
	must(t, bpc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: looped}}))
	if ssrc := receive(t, asked, "keyframe request passed on from b"); ssrc != own {
		t.Fatalf("keyframe asked for SSRC %d, want b's video %d", ssrc, own)
	}
}
