package config

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestClusterDefaults(t *testing.T) {
	c, err := Parse([]string{"--dev"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Enabled() || c.Cluster != DefaultCluster() {
		t.Fatalf("%+v", c.Cluster)
	}
	d := DefaultCluster()
	if d.Prefix != "compass" || d.Heartbeat != time.Second || d.ReplicaTTL != 5*time.Second ||
		d.SyncTimeout != 250*time.Millisecond || d.ControlTimeout != 2*time.Second || d.NATSReconnectWait != 5*time.Second {
		t.Fatalf("%+v", d)
	}
}

func TestClusterFlagsAndEnv(t *testing.T) {
	c, err := Parse([]string{"--dev", "--nats-url", "nats://n1:4222,tls://n2:4222", "--cluster-heartbeat", "2s"},
		env(map[string]string{
			"COMPASS_NATS_URL":                "nats://ignored:4222", // the flag wins
			"COMPASS_NATS_CREDS_FILE":         "/etc/compass/nats/user.creds",
			"COMPASS_NATS_CA_FILE":            "/etc/ca.pem",
			"COMPASS_NATS_CERT_FILE":          "/etc/c.pem",
			"COMPASS_NATS_KEY_FILE":           "/etc/k.pem",
			"COMPASS_NATS_RECONNECT_WAIT":     "1s",
			"COMPASS_CLUSTER_PREFIX":          "compass.prod",
			"COMPASS_CLUSTER_REPLICA_ID":      "compass-7d9-x1",
			"COMPASS_CLUSTER_REPLICA_TTL":     "10s",
			"COMPASS_CLUSTER_SYNC_TIMEOUT":    "100ms",
			"COMPASS_CLUSTER_CONTROL_TIMEOUT": "3s",
		}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Cluster
	if !k.Enabled() || k.NATSURL != "nats://n1:4222,tls://n2:4222" || k.NATSCredsFile != "/etc/compass/nats/user.creds" ||
		k.NATSCAFile != "/etc/ca.pem" || k.NATSCertFile != "/etc/c.pem" || k.NATSKeyFile != "/etc/k.pem" ||
		k.NATSReconnectWait != time.Second || k.Prefix != "compass.prod" || k.ReplicaID != "compass-7d9-x1" ||
		k.Heartbeat != 2*time.Second || k.ReplicaTTL != 10*time.Second || k.SyncTimeout != 100*time.Millisecond ||
		k.ControlTimeout != 3*time.Second {
		t.Fatalf("%+v", k)
	}
	for _, f := range []string{"nats-url", "nats-creds-file", "nats-token-file", "nats-ca-file", "nats-cert-file",
		"nats-key-file", "nats-reconnect-wait", "cluster-prefix", "cluster-replica-id", "cluster-heartbeat",
		"cluster-replica-ttl", "cluster-sync-timeout", "cluster-control-timeout"} {
		if !slices.Contains(Flags(), f) {
			t.Errorf("--%s missing from Flags()", f)
		}
	}
}

func TestClusterErrors(t *testing.T) {
	url := []string{"--nats-url", "nats://127.0.0.1:4222"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nats-url", "127.0.0.1:4222"}, `--nats-url: "127.0.0.1:4222" is not a URL like nats://host:4222`},
		{[]string{"--nats-url", "http://h:4222"}, `--nats-url: "http://h:4222": scheme must be nats, tls, ws or wss`},
		{[]string{"--nats-url", "nats://a:4222,"}, `--nats-url: "" is not a URL like nats://host:4222`},
		{append(url, "--nats-creds-file", "c", "--nats-token-file", "t"), "--nats-token-file: cannot be used with --nats-creds-file"},
		{append(url, "--nats-cert-file", "c"), "--nats-cert-file: --nats-cert-file and --nats-key-file go together"},
		{append(url, "--cluster-prefix", "a.*"), `--cluster-prefix: "a.*" is not dot-separated tokens`},
		{append(url, "--cluster-prefix", "a..b"), `--cluster-prefix: "a..b" is not dot-separated tokens`},
		{append(url, "--cluster-replica-id", "a.b"), `--cluster-replica-id: "a.b" is not 1 to 64 of A-Z a-z 0-9 _ -`},
		{append(url, "--cluster-heartbeat", "0s"), "--cluster-heartbeat: 0s must be positive"},
		{append(url, "--cluster-sync-timeout", "-1s"), "--cluster-sync-timeout: -1s must be positive"},
		{append(url, "--cluster-replica-ttl", "1s"), "--cluster-replica-ttl: 1s is less than twice --cluster-heartbeat (1s)"},
		{append(url, "--nats-reconnect-wait", "0s"), "--nats-reconnect-wait: 0s must be positive"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := Parse(append([]string{"--dev"}, tc.args...), env(nil), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// Without --nats-url the cluster flags are not checked: they do nothing.
	if _, err := Parse([]string{"--dev", "--cluster-heartbeat", "0s"}, env(nil), io.Discard); err != nil {
		t.Fatal(err)
	}
}
