package config

import (
	"flag"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Cluster configures cluster mode (docs/cluster.md). Without NATSURL
// compassd is a single node and the rest is ignored.
type Cluster struct {
	NATSURL       string // comma-separated NATS server URLs
	NATSCredsFile string // NATS credentials file (user JWT and NKey seed)
	NATSTokenFile string // file holding a NATS token
	NATSCAFile    string // PEM CA bundle for NATS over TLS
	NATSCertFile  string // client certificate for NATS over TLS
	NATSKeyFile   string // its key
	// NATSReconnectWait is the longest wait between two reconnection
	// attempts; the waits grow to it from 100 ms, with jitter.
	NATSReconnectWait time.Duration
	Prefix            string        // subject prefix shared by the replicas of one deployment
	ReplicaID         string        // "" : host name and a random suffix
	Heartbeat         time.Duration // between two heartbeats of a replica
	ReplicaTTL        time.Duration // silence after which a replica's members are forgotten
	SyncTimeout       time.Duration // longest wait for the other replicas' state of a group
	ControlTimeout    time.Duration // longest wait for the other replicas' control-plane answers
}

// Enabled reports whether cluster mode is on.
func (c Cluster) Enabled() bool { return c.NATSURL != "" }

// DefaultCluster returns the cluster settings compassd runs with when told
// nothing but --nats-url.
func DefaultCluster() Cluster {
	return Cluster{
		NATSReconnectWait: 5 * time.Second,
		Prefix:            "compass",
		Heartbeat:         time.Second,
		ReplicaTTL:        5 * time.Second,
		SyncTimeout:       250 * time.Millisecond,
		ControlTimeout:    2 * time.Second,
	}
}

// clusterFlags are the flags of docs/cluster.md.
func (c *Config) clusterFlags(fs *flag.FlagSet) {
	if c.Cluster == (Cluster{}) {
		c.Cluster = DefaultCluster()
	}
	k := &c.Cluster
	fs.StringVar(&k.NATSURL, "nats-url", k.NATSURL, "comma-separated NATS server URLs: cluster mode with the other replicas (empty: a single node)")
	fs.StringVar(&k.NATSCredsFile, "nats-creds-file", k.NATSCredsFile, "NATS credentials file (user JWT and NKey seed)")
	fs.StringVar(&k.NATSTokenFile, "nats-token-file", k.NATSTokenFile, "file with the NATS authentication token")
	fs.StringVar(&k.NATSCAFile, "nats-ca-file", k.NATSCAFile, "PEM CA bundle that verifies the NATS servers (TLS)")
	fs.StringVar(&k.NATSCertFile, "nats-cert-file", k.NATSCertFile, "client certificate for NATS (TLS), with --nats-key-file")
	fs.StringVar(&k.NATSKeyFile, "nats-key-file", k.NATSKeyFile, "key of --nats-cert-file")
	fs.DurationVar(&k.NATSReconnectWait, "nats-reconnect-wait", k.NATSReconnectWait, "longest wait between NATS reconnection attempts (they back off from 100ms, with jitter)")
	fs.StringVar(&k.Prefix, "cluster-prefix", k.Prefix, "NATS subject prefix shared by the replicas of one deployment")
	fs.StringVar(&k.ReplicaID, "cluster-replica-id", k.ReplicaID, "this replica's id, unique per process (default: host name and a random suffix)")
	fs.DurationVar(&k.Heartbeat, "cluster-heartbeat", k.Heartbeat, "interval of the replica heartbeats")
	fs.DurationVar(&k.ReplicaTTL, "cluster-replica-ttl", k.ReplicaTTL, "heartbeat silence after which a replica's members are forgotten")
	fs.DurationVar(&k.SyncTimeout, "cluster-sync-timeout", k.SyncTimeout, "longest wait for the other replicas' members of a group at its first local join")
	fs.DurationVar(&k.ControlTimeout, "cluster-control-timeout", k.ControlTimeout, "longest wait for the other replicas' answers to a control-plane call")
}

var (
	prefixRE  = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	replicaRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// checkCluster reports the cluster values compassd cannot run with.
func (c *Config) checkCluster(bad func(flag, format string, args ...any)) {
	k := c.Cluster
	if !k.Enabled() {
		return
	}
	for _, u := range strings.Split(k.NATSURL, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		switch {
		case err != nil || p.Host == "":
			bad("nats-url", "%q is not a URL like nats://host:4222", u)
		case p.Scheme != "nats" && p.Scheme != "tls" && p.Scheme != "ws" && p.Scheme != "wss":
			bad("nats-url", "%q: scheme must be nats, tls, ws or wss", u)
		}
	}
	if k.NATSCredsFile != "" && k.NATSTokenFile != "" {
		bad("nats-token-file", "cannot be used with --nats-creds-file")
	}
	if (k.NATSCertFile == "") != (k.NATSKeyFile == "") {
		bad("nats-cert-file", "--nats-cert-file and --nats-key-file go together")
	}
	if len(k.Prefix) > 64 || !prefixRE.MatchString(k.Prefix) {
		bad("cluster-prefix", "%q is not dot-separated tokens of A-Z a-z 0-9 _ - (at most 64 bytes)", k.Prefix)
	}
	if k.ReplicaID != "" && !replicaRE.MatchString(k.ReplicaID) {
		bad("cluster-replica-id", "%q is not 1 to 64 of A-Z a-z 0-9 _ -", k.ReplicaID)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"nats-reconnect-wait", k.NATSReconnectWait}, {"cluster-heartbeat", k.Heartbeat},
		{"cluster-replica-ttl", k.ReplicaTTL}, {"cluster-sync-timeout", k.SyncTimeout},
		{"cluster-control-timeout", k.ControlTimeout},
	} {
		if d.v <= 0 {
			bad(d.flag, "%v must be positive", d.v)
		}
	}
	if k.Heartbeat > 0 && k.ReplicaTTL < 2*k.Heartbeat {
		bad("cluster-replica-ttl", "%v is less than twice --cluster-heartbeat (%v)", k.ReplicaTTL, k.Heartbeat)
	}
}
