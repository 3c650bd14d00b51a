package turn

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	authVec                             *prometheus.CounterVec
	deniedPeers                         prometheus.Counter
	relayedInBytes, relayedOutBytes     prometheus.Counter
	relayedInPackets, relayedOutPackets prometheus.Counter
	allocCreated, allocFailed           prometheus.Counter
	quotaUser, quotaTotal               prometheus.Counter
	quotaSource                         prometheus.Counter
	allocDraining                       prometheus.Counter
	droppedAuthRate, droppedBandwidth   prometheus.Counter
	droppedSTUNMode, droppedRelayQueue  prometheus.Counter
	droppedNoPermission, droppedJunk    prometheus.Counter
	refusedConns, timedOutConns         prometheus.Counter
}

func (m *metrics) auth(result string) { m.authVec.WithLabelValues(result).Inc() }

func newMetrics(reg prometheus.Registerer, allocations, bindings, segmented func() float64) *metrics {
	auth := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_turn_auth_total",
		Help: "TURN authentication verdicts: ok, or the refusal reason.",
	}, []string{"result"})
	for _, r := range []string{authOK, authBadPassword, authExpired, authTooFar, authBadUsername, authUnknownUser, authWrongRealm, authStaleNonce} {
		auth.WithLabelValues(r)
	}
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_turn_relayed_bytes_total",
		Help: "Payload bytes relayed through allocations; in = from peers, out = to peers.",
	}, []string{"direction"})
	packets := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_turn_relayed_packets_total",
		Help: "Datagrams relayed through allocations; in = from peers, out = to peers.",
	}, []string{"direction"})
	allocs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_turn_allocations_total",
		Help: "Allocate outcomes: created, failed (no relay port), quota_user, quota_source, quota_total, draining (all 486).",
	}, []string{"outcome"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_turn_dropped_total",
		Help: "Packets dropped: auth_rate (401/438 budget of a source), bandwidth (max-bps or bps-capacity), mode (TURN under stun-only, Binding under no-stun), relay_queue (a peer's datagram that found the queue towards its client full, or was larger than 2 KiB), no_permission (a datagram to a relay port from an address the allocation has no permission for), junk (a datagram on a client socket pion could only refuse: neither well-framed STUN nor ChannelData, a response, or ChannelData or an indication from an address without an allocation).",
	}, []string{"reason"})
	conns := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_turn_connections_closed_total",
		Help: "TCP/TLS connections closed by the server: per_address_cap (refused at accept), timeout (idle or stalled mid-frame).",
	}, []string{"reason"})
	m := &metrics{
		authVec: auth,
		deniedPeers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_turn_denied_peers_total",
			Help: "Permissions, channel binds and datagrams refused by the peer policy.",
		}),
		relayedInBytes: bytes.WithLabelValues("in"), relayedOutBytes: bytes.WithLabelValues("out"),
		relayedInPackets: packets.WithLabelValues("in"), relayedOutPackets: packets.WithLabelValues("out"),
		allocCreated: allocs.WithLabelValues("created"), allocFailed: allocs.WithLabelValues("failed"),
		quotaUser: allocs.WithLabelValues("quota_user"), quotaTotal: allocs.WithLabelValues("quota_total"),
		quotaSource:     allocs.WithLabelValues("quota_source"),
		allocDraining:   allocs.WithLabelValues("draining"),
		droppedAuthRate: dropped.WithLabelValues("auth_rate"), droppedBandwidth: dropped.WithLabelValues("bandwidth"),
		droppedSTUNMode: dropped.WithLabelValues("mode"), droppedRelayQueue: dropped.WithLabelValues("relay_queue"), droppedNoPermission: dropped.WithLabelValues("no_permission"),
		droppedJunk:  dropped.WithLabelValues("junk"),
		refusedConns: conns.WithLabelValues("per_address_cap"), timedOutConns: conns.WithLabelValues("timeout"),
	}
	if reg != nil {
		reg.MustRegister(auth, m.deniedPeers, bytes, packets, allocs, dropped, conns,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "switchboard_turn_allocations",
				Help: "Live TURN allocations.",
			}, allocations),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "switchboard_stun_binding_answered_total",
				Help: "STUN Binding requests answered on the UDP listeners' fast path.",
			}, bindings),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "switchboard_turn_relayed_segmented_packets_total",
				Help: "Relayed datagrams, either direction, that left in runs handed to the kernel as one UDP_SEGMENT (GSO) message.",
			}, segmented))
	}
	return m
}
