package turn

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	authOK, authBadPassword      prometheus.Counter
	authExpired, authBadUsername prometheus.Counter
	deniedPeers                  prometheus.Counter
	relayed                      *prometheus.CounterVec
	relayedIn                    prometheus.Counter
	relayedOut                   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, allocations func() float64) *metrics {
	auth := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_turn_auth_total",
		Help: "TURN authentication verdicts: ok, bad_password, expired, bad_username.",
	}, []string{"result"})
	m := &metrics{
		authOK:          auth.WithLabelValues("ok"),
		authBadPassword: auth.WithLabelValues("bad_password"),
		authExpired:     auth.WithLabelValues("expired"),
		authBadUsername: auth.WithLabelValues("bad_username"),
		deniedPeers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_turn_denied_peers_total",
			Help: "Permissions refused because the peer address is not public.",
		}),
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_turn_relayed_bytes_total",
			Help: "Bytes relayed through allocations; in = from peers, out = to peers.",
		}, []string{"direction"}),
	}
	m.relayedIn = m.relayed.WithLabelValues("in")
	m.relayedOut = m.relayed.WithLabelValues("out")
	if reg != nil {
		reg.MustRegister(auth, m.deniedPeers, m.relayed,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "switchboard_turn_allocations",
				Help: "Live TURN allocations.",
			}, allocations))
	}
	return m
}
