package call

import (
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Keyframes passes on, for a peer whose video is sent back to it (a
// loopback, an echo), its requests for a keyframe of what it gets back
// to what it sends. Without that, a keyframe lost on the way (packets
// dropped while a relay starts, an ICE restart) freezes the looped-back
// video until the peer's next keyframe, which a WebRTC sender does not
// send unasked.
type Keyframes struct {
	pc   *webrtc.PeerConnection
	ssrc atomic.Uint32 // the peer's video, 0 until it comes
}

// NewKeyframes passes keyframe requests on within pc.
func NewKeyframes(pc *webrtc.PeerConnection) *Keyframes { return &Keyframes{pc: pc} }

// Source names the peer's video, the one asked for keyframes, and asks
// for one at once: what the peer decodes first must be one.
func (k *Keyframes) Source(remote *webrtc.TrackRemote) {
	k.ssrc.Store(uint32(remote.SSRC()))
	k.ask()
}

// Watch reads the RTCP the peer sends about sender's video (what it gets
// back) until the connection ends, passing on its keyframe requests. Run
// it in its own goroutine.
func (k *Keyframes) Watch(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				k.ask()
			}
		}
	}
}

func (k *Keyframes) ask() {
	if s := k.ssrc.Load(); s != 0 {
		_ = k.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: s}})
	}
}
