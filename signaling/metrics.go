package signaling

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	connections prometheus.Gauge
	relayed     map[string]prometheus.Counter // by relay type, resolved once
	errors      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, router Router) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_signaling_connections",
			Help: "Open signaling connections.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_signaling_errors_total",
			Help: "Errors reported to clients, by code.",
		}, []string{"code"}),
	}
	relayed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_signaling_relayed_total",
		Help: "Frames relayed between peers, by type.",
	}, []string{"type"})
	m.relayed = make(map[string]prometheus.Counter)
	for _, t := range []string{typeOffer, typeAnswer, typeCandidate, typeMessage} {
		m.relayed[t] = relayed.WithLabelValues(t)
	}
	if reg != nil {
		reg.MustRegister(m.connections, relayed, m.errors,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "switchboard_signaling_rooms",
				Help: "Rooms with at least one peer.",
			}, func() float64 { return float64(router.Rooms()) }))
	}
	return m
}
