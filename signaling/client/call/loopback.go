package call

import (
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
	keyframes := NewKeyframes(pc)
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
			go keyframes.Watch(sender)
		}
	}
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		out := local[remote.Kind()]
		if remote.Kind() == webrtc.RTPCodecTypeVideo {
			keyframes.Source(remote)
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
