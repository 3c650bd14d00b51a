package signaling

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

type metrics struct {
	connections *prometheus.GaugeVec // open channels, by transport
	sessions    prometheus.Gauge
	ended       *prometheus.CounterVec // sessions ended, by reason
	resumes     *prometheus.CounterVec // by outcome
	relayed     map[string]prometheus.Counter
	errors      *prometheus.CounterVec
	duplicates  prometheus.Counter // client frames skipped: handled before (cseq)
}

func newMetrics(reg prometheus.Registerer, eng engine.Engine) *metrics {
	m := &metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_signaling_connections",
			Help: "Open signaling channels, by transport (ws, sse, poll).",
		}, []string{"transport"}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_signaling_sessions",
			Help: "Live sessions, attached to a channel or detached within their grace period.",
		}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_signaling_sessions_ended_total",
			Help: "Sessions ended on this node, by reason (bye, expired, slow_consumer, over_budget, too_large, resume_failed, unavailable, shutdown; moved: another node of the cluster runs it now).",
		}, []string{"reason"}),
		resumes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_signaling_resumes_total",
			Help: "Channels that asked to resume a session, by outcome (resumed, failed; adopted: a session another node of the cluster ran; restored: a session the previous process on the state file kept, counted when restored).",
		}, []string{"outcome"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_signaling_errors_total",
			Help: "Errors reported to clients, by code.",
		}, []string{"code"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_signaling_duplicate_frames_total",
			Help: "Client frames skipped because their cseq was handled before: sent again after a resume or a POST whose answer was lost.",
		}),
	}
	relayed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_signaling_relayed_total",
		Help: "Frames relayed between peers, by type.",
	}, []string{"type"})
	m.relayed = make(map[string]prometheus.Counter)
	for _, t := range []string{wire.TypeOffer, wire.TypeAnswer, wire.TypeCandidate, wire.TypeMessage} {
		m.relayed[t] = relayed.WithLabelValues(t)
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.sessions, m.ended, m.resumes, relayed, m.errors, m.duplicates,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "switchboard_signaling_rooms",
				Help: "Rooms with at least one peer.",
			}, func() float64 { return float64(eng.Rooms()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "switchboard_signaling_buffered_bytes",
				Help: "Bytes of events the sessions' replay buffers hold in this node's memory, against -max-buffered-bytes.",
			}, func() float64 { return float64(eng.Held()) }))
	}
	return m
}
