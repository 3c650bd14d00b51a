package call

import (
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// maxEchoBuffered bounds what waits to be echoed on a data channel: a
// peer that does not read does not grow our queue.
const maxEchoBuffered = 1 << 20

// Loopback is a Setup that sends every peer its own media and data back:
// an Opus and a VP8 track whose packets are those the peer sends, and
// every data channel message echoed on its channel. The peer's requests
// for a keyframe of what it gets back go on to what it sends. A test
// peer, and the start of a bot.
func Loopback(p *Peer) error {
	pc := p.Conn()
	local := map[webrtc.RTPCodecType]*webrtc.TrackLocalStaticRTP{}
	var videoSSRC atomic.Uint32 // the peer's video, 0 until it comes
	for kind, mime := range map[webrtc.RTPCodecType]string{webrtc.RTPCodecTypeAudio: webrtc.MimeTypeOpus, webrtc.RTPCodecTypeVideo: webrtc.MimeTypeVP8} {
		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime}, kind.String(), "loopback-"+p.ID)
		if err != nil {
			return err
		}
		sender, err := pc.AddTrack(track)
		if err != nil {
			return err
		}
		local[kind] = track
		if kind == webrtc.RTPCodecTypeVideo {
			go passKeyframeRequests(pc, sender, &videoSSRC)
		}
	}
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		out := local[remote.Kind()]
		if remote.Kind() == webrtc.RTPCodecTypeVideo {
			videoSSRC.Store(uint32(remote.SSRC()))
			askKeyframe(pc, uint32(remote.SSRC())) // what the peer decodes first must be one
		}
		for {
			pkt, _, err := remote.ReadRTP()
			if err != nil {
				return // the connection ended
			}
			if out != nil {
				_ = out.WriteRTP(pkt) // a packet the peer cannot take is lost, like any RTP
			}
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			if dc.BufferedAmount() > maxEchoBuffered {
				return
			}
			if m.IsString {
				_ = dc.SendText(string(m.Data))
			} else {
				_ = dc.Send(m.Data)
			}
		})
	})
	return nil
}

// passKeyframeRequests asks the peer for a keyframe of its video (ssrc)
// whenever it asks for one of the video looped back to it. Without that,
// a keyframe lost on the way (packets dropped while a relay starts, an
// ICE restart) freezes the looped-back video until the peer's next
// keyframe, which a WebRTC sender does not send unasked. It returns when
// the connection ends.
func passKeyframeRequests(pc *webrtc.PeerConnection, sender *webrtc.RTPSender, ssrc *atomic.Uint32) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if s := ssrc.Load(); s != 0 {
					askKeyframe(pc, s)
				}
			}
		}
	}
}

func askKeyframe(pc *webrtc.PeerConnection, ssrc uint32) {
	_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}
