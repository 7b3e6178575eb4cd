package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Reasons a frame from another replica was dropped: the label values of
// compass_cluster_dropped_total.
const (
	DroppedSlowConsumer = "slow_consumer" // this replica did not keep up with NATS
	DroppedMalformed    = "malformed"     // the frame did not decode
)

// Cluster holds the metrics of cluster mode (docs/cluster.md). They are
// registered only when cluster mode is on, so that a single node exposes
// no broker state it does not have.
type Cluster struct {
	Connected       prometheus.Gauge
	Reconnects      prometheus.Counter
	PublishErrors   prometheus.Counter
	Published       prometheus.Counter
	Received        prometheus.Counter
	Deliveries      prometheus.Counter
	Dropped         *prometheus.CounterVec
	Replicas        prometheus.Gauge
	ReplicasExpired prometheus.Counter
	SyncIncomplete  prometheus.Counter
}

// NewCluster registers the cluster metrics on reg.
func NewCluster(reg prometheus.Registerer) *Cluster {
	f := promauto.With(reg)
	m := &Cluster{
		Connected: f.NewGauge(prometheus.GaugeOpts{Name: "compass_cluster_connected",
			Help: "1 while connected to NATS, 0 while (re)connecting."}),
		Reconnects: f.NewCounter(prometheus.CounterOpts{Name: "compass_cluster_reconnects_total",
			Help: "Reconnections to NATS after a lost connection."}),
		PublishErrors: f.NewCounter(prometheus.CounterOpts{Name: "compass_cluster_publish_errors_total",
			Help: "Frames for the other replicas that could not be published (NATS down or the outbox full)."}),
		Published: f.NewCounter(prometheus.CounterOpts{Name: "compass_cluster_published_total",
			Help: "Frames published to the other replicas."}),
		Received: f.NewCounter(prometheus.CounterOpts{Name: "compass_cluster_received_total",
			Help: "Frames received from the other replicas."}),
		Deliveries: f.NewCounter(prometheus.CounterOpts{Name: "compass_cluster_deliveries_total",
			Help: "Messages (loc, presence) queued to local sessions on behalf of other replicas."}),
		Dropped: f.NewCounterVec(prometheus.CounterOpts{Name: "compass_cluster_dropped_total",
			Help: "Frames from other replicas dropped, by reason."}, []string{"reason"}),
		Replicas: f.NewGauge(prometheus.GaugeOpts{Name: "compass_cluster_replicas",
			Help: "Replicas known alive, this one included."}),
		ReplicasExpired: f.NewCounter(prometheus.CounterOpts{Name: "compass_cluster_replicas_expired_total",
			Help: "Replicas forgotten after their heartbeats stopped (their members went offline)."}),
		SyncIncomplete: f.NewCounter(prometheus.CounterOpts{Name: "compass_cluster_sync_incomplete_total",
			Help: "First joins of a group that stopped waiting for the other replicas' members at --cluster-sync-timeout."}),
	}
	for _, r := range []string{DroppedSlowConsumer, DroppedMalformed} {
		m.Dropped.WithLabelValues(r)
	}
	m.Replicas.Set(1)
	return m
}
