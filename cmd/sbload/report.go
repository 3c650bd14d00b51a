package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// relayJSON is the -json line of a relay run; keys are stable for scripts.
type relayJSON struct {
	Scenario  string  `json:"scenario"`
	Transport string  `json:"transport"`
	Pairs     int     `json:"pairs"`
	Conns     int     `json:"conns"`
	Rate      float64 `json:"rate"`
	Window    int     `json:"window"`
	Size      int     `json:"size"`
	MeasuredS float64 `json:"measured_s"`
	Sent      int64   `json:"sent"`
	Received  int64   `json:"received"`
	MsgsPerS  float64 `json:"msgs_per_s"`
	P50ms     float64 `json:"p50_ms"`
	P90ms     float64 `json:"p90_ms"`
	P99ms     float64 `json:"p99_ms"`
	P999ms    float64 `json:"p999_ms"`
	MaxMs     float64 `json:"max_ms"`
	MeanMs    float64 `json:"mean_ms"`
	Samples   uint64  `json:"samples"`
	MaxLagMs  float64 `json:"max_lag_ms"`
	// Send to arrival at the receiving socket (see relayResult.Arrival).
	ArrP50ms    float64        `json:"arrival_p50_ms"`
	ArrP99ms    float64        `json:"arrival_p99_ms"`
	ArrP999ms   float64        `json:"arrival_p999_ms"`
	ArrMaxMs    float64        `json:"arrival_max_ms"`
	ClientCores float64        `json:"client_cores"`
	ServerCores float64        `json:"server_cores"`
	OtherCores  float64        `json:"other_cores"`
	StealCores  float64        `json:"steal_cores"`
	Errors      int            `json:"errors"`
	ErrorKinds  map[string]int `json:"error_kinds"`
	Interrupted bool           `json:"interrupted"`
}

func (r *relayResult) writeJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(relayJSON{
		Scenario: scenarioRelay, Transport: r.Transport, Pairs: r.Pairs, Conns: 2 * r.Pairs, Rate: r.Rate, Window: r.Window, Size: r.Size,
		MeasuredS: r.Measured.Seconds(), Sent: r.Sent, Received: r.Received, MsgsPerS: r.MsgsPerSec,
		P50ms: ms(r.Latency.P50), P90ms: ms(r.Latency.P90), P99ms: ms(r.Latency.P99), P999ms: ms(r.Latency.P999),
		MaxMs: ms(r.Latency.Max), MeanMs: ms(r.Latency.Mean), Samples: r.Latency.N, MaxLagMs: ms(r.MaxLag),
		ArrP50ms: ms(r.Arrival.P50), ArrP99ms: ms(r.Arrival.P99), ArrP999ms: ms(r.Arrival.P999), ArrMaxMs: ms(r.Arrival.Max),
		ClientCores: r.ClientCores, ServerCores: r.ServerCores, OtherCores: r.otherCores(), StealCores: r.StealCores,
		Errors: r.ErrorTotal, ErrorKinds: r.Errors, Interrupted: r.Interrupted,
	})
}

func (r *relayResult) writeText(w io.Writer) {
	mode := "flat out, window " + fmt.Sprint(r.Window)
	if r.Rate > 0 {
		mode = fmt.Sprintf("paced at %.0f offers/s", r.Rate)
	}
	fmt.Fprintf(w, "relay over %s: %d pairs, %d B offers, %s\n", r.Transport, r.Pairs, r.Size, mode)
	fmt.Fprintf(w, "  relayed   %10.0f msgs/s  (%d received in %.2fs measured; %d sent, %d received in all)\n",
		r.MsgsPerSec, r.InWindow, r.Measured.Seconds(), r.Sent, r.Received)
	l := r.Latency
	fmt.Fprintf(w, "  latency   p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  mean %.3f ms  (%d samples)\n",
		ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), ms(l.Mean), l.N)
	a := r.Arrival
	fmt.Fprintf(w, "  arrival   p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  (to the receiving socket, without this tool's read delay)\n",
		ms(a.P50), ms(a.P90), ms(a.P99), ms(a.P999), ms(a.Max))
	if r.Rate > 0 {
		fmt.Fprintf(w, "  pacing    senders fell behind schedule by at most %.3f ms\n", ms(r.MaxLag))
	}
	fmt.Fprintf(w, "  cpu       sbload %.2f cores", r.ClientCores)
	if r.ServerCores > 0 {
		fmt.Fprintf(w, ", server %.2f cores (%.0f msgs/s per server core), everything else %.2f cores",
			r.ServerCores, r.MsgsPerSec/r.ServerCores, r.otherCores())
	}
	if r.StealCores > 0.01 {
		fmt.Fprintf(w, ", stolen by the hypervisor %.2f cores", r.StealCores)
	}
	fmt.Fprintf(w, "\n  errors    %d\n", r.ErrorTotal)
	if r.Interrupted {
		fmt.Fprintln(w, "  interrupted: figures cover part of the run")
	}
}

// otherCores is busy CPU charged to neither the server nor this tool; 0
// when the server's CPU was not sampled.
func (r *relayResult) otherCores() float64 {
	if r.ServerCores == 0 || r.MachineCores == 0 {
		return 0
	}
	return max(0, r.MachineCores-r.ServerCores-r.ClientCores)
}

// idleJSON is the -json line of an idle run. Memory figures are bytes; a
// figure the tool was not told how to sample is 0.
type idleJSON struct {
	Scenario       string         `json:"scenario"`
	Transport      string         `json:"transport"`
	Conns          int            `json:"conns"`
	Connected      int            `json:"connected"`
	ConnectS       float64        `json:"connect_s"`
	ConnectPerS    float64        `json:"connect_per_s"`
	ConnectP50ms   float64        `json:"connect_p50_ms"`
	ConnectP99ms   float64        `json:"connect_p99_ms"`
	HeldS          float64        `json:"held_s"`
	Dropped        int            `json:"dropped"`
	Requests       float64        `json:"requests_per_session"`
	RSSBefore      int64          `json:"rss_before"`
	RSSSettled     int64          `json:"rss_settled"`
	RSSEnd         int64          `json:"rss_end"`
	RSSPeak        int64          `json:"rss_peak"`
	RSSPerConn     float64        `json:"rss_per_conn"`
	RSSPeakPerConn float64        `json:"rss_peak_per_conn"`
	HeapBefore     float64        `json:"heap_inuse_before"`
	HeapEnd        float64        `json:"heap_inuse_end"`
	HeapPerConn    float64        `json:"heap_inuse_per_conn"`
	StackBefore    float64        `json:"stack_inuse_before"`
	StackEnd       float64        `json:"stack_inuse_end"`
	StackPerConn   float64        `json:"stack_inuse_per_conn"`
	GoSysEnd       float64        `json:"go_sys_end"`
	Goroutines     float64        `json:"goroutines_end"`
	Errors         int            `json:"errors"`
	ErrorKinds     map[string]int `json:"error_kinds"`
	Interrupted    bool           `json:"interrupted"`
}

func (r *idleResult) toJSON() idleJSON {
	b, e := r.Before.Metrics, r.End.Metrics
	return idleJSON{
		Scenario: scenarioIdle, Transport: r.Transport, Conns: r.Conns, Connected: r.Connected,
		ConnectS: r.ConnectTime.Seconds(), ConnectPerS: r.ConnectRate,
		ConnectP50ms: ms(r.Connect.P50), ConnectP99ms: ms(r.Connect.P99),
		HeldS: r.Held.Seconds(), Dropped: r.Dropped, Requests: r.Requests,
		RSSBefore: r.Before.RSS, RSSSettled: r.Settled.RSS, RSSEnd: r.End.RSS, RSSPeak: r.PeakRSS,
		RSSPerConn:     r.bytesPerConn(float64(r.Before.RSS), float64(r.End.RSS)),
		RSSPeakPerConn: r.bytesPerConn(float64(r.Before.RSS), float64(r.PeakRSS)),
		HeapBefore:     b["go_memstats_heap_inuse_bytes"], HeapEnd: e["go_memstats_heap_inuse_bytes"],
		HeapPerConn: r.bytesPerConn(b["go_memstats_heap_inuse_bytes"], e["go_memstats_heap_inuse_bytes"]),
		StackBefore: b["go_memstats_stack_inuse_bytes"], StackEnd: e["go_memstats_stack_inuse_bytes"],
		StackPerConn: r.bytesPerConn(b["go_memstats_stack_inuse_bytes"], e["go_memstats_stack_inuse_bytes"]),
		GoSysEnd:     e["go_memstats_sys_bytes"], Goroutines: e["go_goroutines"],
		Errors: r.ErrorTotal, ErrorKinds: r.Errors, Interrupted: r.Interrupted,
	}
}

func (r *idleResult) writeJSON(w io.Writer) error { return json.NewEncoder(w).Encode(r.toJSON()) }

func (r *idleResult) writeText(w io.Writer) {
	j := r.toJSON()
	fmt.Fprintf(w, "idle over %s: %d/%d connections up in %.2fs (%.0f/s), one connect p50 %.2f ms p99 %.2f ms; held %.1fs, %d dropped\n",
		r.Transport, r.Connected, r.Conns, j.ConnectS, j.ConnectPerS, j.ConnectP50ms, j.ConnectP99ms, j.HeldS, r.Dropped)
	if r.Before.RSS > 0 {
		fmt.Fprintf(w, "  server RSS   before %.1f MiB, settled %.1f MiB, end %.1f MiB, peak %.1f MiB\n",
			mib(r.Before.RSS), mib(r.Settled.RSS), mib(r.End.RSS), mib(r.PeakRSS))
		fmt.Fprintf(w, "  per conn     %.0f B at end (%.2f KiB), %.0f B at peak\n", j.RSSPerConn, j.RSSPerConn/1024, j.RSSPeakPerConn)
	}
	if r.End.Metrics != nil {
		fmt.Fprintf(w, "  Go heap      in use %.1f -> %.1f MiB (%.0f B/conn); stacks %.1f -> %.1f MiB (%.0f B/conn); runtime sys %.1f MiB; %.0f goroutines\n",
			j.HeapBefore/(1<<20), j.HeapEnd/(1<<20), j.HeapPerConn, j.StackBefore/(1<<20), j.StackEnd/(1<<20), j.StackPerConn,
			j.GoSysEnd/(1<<20), j.Goroutines)
	}
	if r.Requests > 0 {
		fmt.Fprintf(w, "  requests     %.1f per session (streams opened or polls made)\n", r.Requests)
	}
	fmt.Fprintf(w, "  errors       %d\n", r.ErrorTotal)
	if r.Interrupted {
		fmt.Fprintln(w, "  interrupted: figures cover part of the run")
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
