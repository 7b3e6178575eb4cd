// Package metrics declares every Prometheus metric of operations.md on an
// injected registerer (never the global one), pre-creates each labelled
// series so dashboards see zeros rather than gaps, and serves /metrics,
// /healthz and /readyz. Label values come only from fixed sets in code,
// never from users, sessions, groups or addresses.
//
// Concurrency: every method is safe for concurrent use; hot-path updates
// go to pre-resolved children (atomic adds, no lock, no allocation).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/ucompass/compass/pkg/version"
)

// Close reasons: the label values of compass_connections_closed_total.
const (
	ClosedPeer             = "peer"               // the client closed (FIN or RST)
	ClosedRejected         = "rejected"           // the sniffer found another protocol
	ClosedHandshakeTimeout = "handshake_timeout"  // preamble or hello too late
	ClosedHandshakeError   = "handshake_required" // something else than hello first
	ClosedUnauthorized     = "unauthorized"
	ClosedLineTooLong      = "line_too_long"
	ClosedKicked           = "kicked"
	ClosedBanned           = "banned"
	ClosedAbuse            = "abuse"
	ClosedSlowConsumer     = "slow_consumer"
	ClosedIdle             = "idle"
	ClosedShutdown         = "shutdown"
	ClosedWriteError       = "write_error"
	ClosedMaxConns         = "max_conns"
	ClosedMaxConnsPerIP    = "max_conns_per_ip"
	ClosedBannedAtAccept   = "banned_at_accept"
	ClosedProxyError       = "proxy_error"
	ClosedAcceptRate       = "accept_rate"  // over --max-accept-rate, closed in OnPrepare
	ClosedMaxBuffered      = "max_buffered" // over --max-buffered-bytes, closed in OnPrepare
)

// Results of a PROXY protocol header: the label values of
// compass_proxy_headers_total.
const (
	ProxyAccepted  = "accepted"  // from a trusted proxy, parsed
	ProxyMalformed = "malformed" // from a trusted proxy, not parsable (class proxy)
	ProxyUntrusted = "untrusted" // from anyone else (class proxy)
)

// ProxyResults lists the label values of compass_proxy_headers_total.
func ProxyResults() []string { return []string{ProxyAccepted, ProxyMalformed, ProxyUntrusted} }

// CloseReasons lists every close reason label value.
func CloseReasons() []string {
	return []string{ClosedPeer, ClosedRejected, ClosedHandshakeTimeout, ClosedHandshakeError,
		ClosedUnauthorized, ClosedLineTooLong, ClosedKicked, ClosedBanned, ClosedAbuse,
		ClosedSlowConsumer, ClosedIdle, ClosedShutdown, ClosedWriteError, ClosedMaxConns,
		ClosedMaxConnsPerIP, ClosedBannedAtAccept, ClosedProxyError, ClosedAcceptRate, ClosedMaxBuffered}
}

// Metrics holds the service's collectors.
type Metrics struct {
	BuildInfo         *prometheus.GaugeVec
	Sessions          *prometheus.GaugeVec
	Groups            prometheus.Gauge
	Accepted          prometheus.Counter
	Closed            *prometheus.CounterVec
	Sniffed           *prometheus.CounterVec
	Received          *prometheus.CounterVec
	Sent              *prometheus.CounterVec
	ProtocolErrors    *prometheus.CounterVec
	Kicks             *prometheus.CounterVec
	BansActive        prometheus.Gauge
	ReceivedBytes     prometheus.Counter
	SentBytes         prometheus.Counter
	HandshakeDuration prometheus.Histogram
	FanoutDuration    prometheus.Histogram
	QueueOverflows    prometheus.Counter
	BufferedBytes     prometheus.Gauge
	Ready             prometheus.Gauge
	WatchersDropped   prometheus.Counter

	// Hardening (docs/security.md).
	Autobans         prometheus.Counter
	AutobanTracked   prometheus.Gauge
	AutobanUntracked prometheus.Counter
	ProxyHeaders     *prometheus.CounterVec
}

// Labels is the fixed vocabulary the labelled metrics are pre-created with.
type Labels struct {
	Classes      []string // sniffer classes
	MessageTypes []string // client message types (received)
	SentTypes    []string // server message types (sent)
	ErrorCodes   []string
	KickReasons  []string
}

// New registers every metric on reg, plus the Go runtime and process
// collectors, and pre-creates the series of labels.
func New(reg prometheus.Registerer, l Labels) *Metrics {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := promauto.With(reg)
	m := &Metrics{
		BuildInfo: f.NewGaugeVec(prometheus.GaugeOpts{Name: "compass_build_info",
			Help: "Build information; always 1."}, []string{"version", "goversion"}),
		Sessions: f.NewGaugeVec(prometheus.GaugeOpts{Name: "compass_sessions",
			Help: "Open sessions by state."}, []string{"state"}),
		Groups: f.NewGauge(prometheus.GaugeOpts{Name: "compass_groups",
			Help: "Groups with at least one member."}),
		Accepted: f.NewCounter(prometheus.CounterOpts{Name: "compass_connections_accepted_total",
			Help: "Data plane connections accepted."}),
		Closed: f.NewCounterVec(prometheus.CounterOpts{Name: "compass_connections_closed_total",
			Help: "Data plane connections closed, by reason."}, []string{"reason"}),
		Sniffed: f.NewCounterVec(prometheus.CounterOpts{Name: "compass_sniffer_classified_total",
			Help: "Connections classified by the protocol sniffer, by class."}, []string{"class"}),
		Received: f.NewCounterVec(prometheus.CounterOpts{Name: "compass_messages_received_total",
			Help: "Client messages received, by type."}, []string{"type"}),
		Sent: f.NewCounterVec(prometheus.CounterOpts{Name: "compass_messages_sent_total",
			Help: "Server messages queued to clients, by type."}, []string{"type"}),
		ProtocolErrors: f.NewCounterVec(prometheus.CounterOpts{Name: "compass_protocol_errors_total",
			Help: "Protocol errors answered, by code."}, []string{"code"}),
		Kicks: f.NewCounterVec(prometheus.CounterOpts{Name: "compass_kicks_total",
			Help: "Sessions closed by the server with a bye, by reason."}, []string{"reason"}),
		BansActive: f.NewGauge(prometheus.GaugeOpts{Name: "compass_bans_active",
			Help: "Address bans in force."}),
		ReceivedBytes: f.NewCounter(prometheus.CounterOpts{Name: "compass_received_bytes_total",
			Help: "Bytes received from data plane connections."}),
		SentBytes: f.NewCounter(prometheus.CounterOpts{Name: "compass_sent_bytes_total",
			Help: "Bytes written to data plane connections."}),
		HandshakeDuration: f.NewHistogram(prometheus.HistogramOpts{Name: "compass_handshake_duration_seconds",
			Help:    "Time from accept to welcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
		FanoutDuration: f.NewHistogram(prometheus.HistogramOpts{Name: "compass_fanout_duration_seconds",
			Help:    "Time from a loc read to its last recipient's write.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}),
		QueueOverflows: f.NewCounter(prometheus.CounterOpts{Name: "compass_queue_overflows_total",
			Help: "Outbound queues that overflowed (slow consumers)."}),
		BufferedBytes: f.NewGauge(prometheus.GaugeOpts{Name: "compass_buffered_bytes",
			Help: "Bytes held in partial input lines and outbound queues across all sessions."}),
		Ready: f.NewGauge(prometheus.GaugeOpts{Name: "compass_ready",
			Help: "1 while the data plane accepts connections, 0 before and while draining."}),
		WatchersDropped: f.NewCounter(prometheus.CounterOpts{Name: "compass_admin_watchers_dropped_total",
			Help: "WatchEvents streams ended because they fell behind."}),
		Autobans: f.NewCounter(prometheus.CounterOpts{Name: "compass_autobans_total",
			Help: "Addresses banned automatically for sending too many rejected connections."}),
		AutobanTracked: f.NewGauge(prometheus.GaugeOpts{Name: "compass_autoban_tracked_addresses",
			Help: "Addresses whose rejected connections are being counted for automatic bans."}),
		AutobanUntracked: f.NewCounter(prometheus.CounterOpts{Name: "compass_autoban_untracked_total",
			Help: "Rejected connections not counted for automatic bans because the table of addresses was full."}),
		ProxyHeaders: f.NewCounterVec(prometheus.CounterOpts{Name: "compass_proxy_headers_total",
			Help: "PROXY protocol headers received, by result."}, []string{"result"}),
	}
	m.BuildInfo.WithLabelValues(version.Version, version.Go()).Set(1)
	m.init(l)
	return m
}

func (m *Metrics) init(l Labels) {
	for _, s := range []string{"handshaking", "active"} {
		m.Sessions.WithLabelValues(s)
	}
	for _, r := range CloseReasons() {
		m.Closed.WithLabelValues(r)
	}
	pre := func(v *prometheus.CounterVec, values []string) {
		for _, x := range values {
			v.WithLabelValues(x)
		}
	}
	pre(m.Sniffed, l.Classes)
	pre(m.Received, l.MessageTypes)
	pre(m.Sent, l.SentTypes)
	pre(m.ProtocolErrors, l.ErrorCodes)
	pre(m.Kicks, l.KickReasons)
	pre(m.ProxyHeaders, ProxyResults())
}
