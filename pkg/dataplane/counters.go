package dataplane

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ucompass/compass/pkg/metrics"
	"github.com/ucompass/compass/pkg/sniff"
	"github.com/ucompass/compass/pkg/wire"
)

// Bye reasons of protocol.md.
const (
	ByeKicked       = "kicked"
	ByeBanned       = "banned"
	ByeAbuse        = "abuse"
	ByeSlowConsumer = "slow_consumer"
	ByeIdle         = "idle"
	ByeShutdown     = "shutdown"
)

// ByeReasons lists the bye reasons (the kick metric's label values).
func ByeReasons() []string {
	return []string{ByeKicked, ByeBanned, ByeAbuse, ByeSlowConsumer, ByeIdle, ByeShutdown}
}

// Server message types (the sent metric's label values).
var sentTypes = []string{"welcome", "joined", "left", "ack", "pong", "loc", "presence", "error", "bye"}

// MetricLabels is the fixed label vocabulary of the data plane's metrics.
func MetricLabels() metrics.Labels {
	l := metrics.Labels{SentTypes: sentTypes, KickReasons: ByeReasons()}
	for _, c := range sniff.Classes() {
		l.Classes = append(l.Classes, c.String())
	}
	for t := wire.TypeHello; t <= wire.TypePing; t++ {
		l.MessageTypes = append(l.MessageTypes, t.String())
	}
	for _, c := range wire.Codes() {
		l.ErrorCodes = append(l.ErrorCodes, string(c))
	}
	return l
}

// counters resolves every labelled child once, so the hot path does no
// label lookups.
type counters struct {
	*metrics.Metrics
	received    map[wire.Type]prometheus.Counter
	sent        map[string]prometheus.Counter
	errors      map[wire.Code]prometheus.Counter
	closed      map[string]prometheus.Counter
	kicks       map[string]prometheus.Counter
	sniffed     map[sniff.Class]prometheus.Counter
	handshaking prometheus.Gauge
	active      prometheus.Gauge
}

func newCounters(m *metrics.Metrics) *counters {
	c := &counters{Metrics: m,
		received: map[wire.Type]prometheus.Counter{}, sent: map[string]prometheus.Counter{},
		errors: map[wire.Code]prometheus.Counter{}, closed: map[string]prometheus.Counter{},
		kicks: map[string]prometheus.Counter{}, sniffed: map[sniff.Class]prometheus.Counter{},
		handshaking: m.Sessions.WithLabelValues("handshaking"),
		active:      m.Sessions.WithLabelValues("active"),
	}
	for t := wire.TypeHello; t <= wire.TypePing; t++ {
		c.received[t] = m.Received.WithLabelValues(t.String())
	}
	for _, t := range sentTypes {
		c.sent[t] = m.Sent.WithLabelValues(t)
	}
	for _, code := range wire.Codes() {
		c.errors[code] = m.ProtocolErrors.WithLabelValues(string(code))
	}
	for _, r := range metrics.CloseReasons() {
		c.closed[r] = m.Closed.WithLabelValues(r)
	}
	for _, r := range ByeReasons() {
		c.kicks[r] = m.Kicks.WithLabelValues(r)
	}
	for _, cl := range sniff.Classes() {
		c.sniffed[cl] = m.Sniffed.WithLabelValues(cl.String())
	}
	return c
}

// close counts a closed connection; unknown reasons count as write errors
// so that a typo cannot mint a new series.
func (c *counters) close(reason string) {
	if x, ok := c.closed[reason]; ok {
		x.Inc()
		return
	}
	c.closed[metrics.ClosedWriteError].Inc()
}
