package config

import (
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseDefaultsAndPrecedence(t *testing.T) {
	c, err := Parse([]string{"--dev", "--max-line", "8192"}, env(map[string]string{
		"COMPASS_MAX_LINE":        "1024", // the flag wins
		"COMPASS_HEARTBEAT":       "10s",  // the environment fills in
		"COMPASS_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxLine != 8192 || c.Heartbeat != 10*time.Second || !c.Dev || c.Listen != ":9000" || c.AdminListen != "127.0.0.1:9001" || c.HTTPListen != ":9002" {
		t.Fatalf("%+v", c)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}
	if len(c.TrustedProxies) != 2 || c.TrustedProxies[0] != want[0] || c.TrustedProxies[1] != want[1] {
		t.Fatalf("trusted %v", c.TrustedProxies)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no key without dev", []string{"--admin-token-file", "x"}, nil,
			"--jwt-key-file: required without --dev: clients cannot be authenticated"},
		{"no admin token without dev", []string{"--jwt-key-file", "x"}, nil,
			"--admin-token-file: required without --dev: the admin API would be open"},
		{"bad alg", []string{"--dev", "--jwt-alg", "HS512"}, nil,
			`--jwt-alg: "HS512" is not one of HS256, EdDSA, RS256, ES256`},
		{"bad duration", []string{"--dev", "--heartbeat", "soon"}, nil,
			`invalid value "soon" for flag -heartbeat`},
		{"negative duration", []string{"--dev", "--drain-timeout", "-1s"}, nil,
			"--drain-timeout: -1s must be positive"},
		{"line too short", []string{"--dev", "--max-line", "10"}, nil,
			"--max-line: 10 is out of range [256, 1048576]"},
		{"bad cidr", []string{"--dev", "--trusted-proxies", "10.0.0.0/33"}, nil,
			`invalid value "10.0.0.0/33" for flag -trusted-proxies: bad CIDR "10.0.0.0/33"`},
		{"bad env", []string{"--dev"}, map[string]string{"COMPASS_MAX_GROUPS": "many"},
			`COMPASS_MAX_GROUPS: invalid value "many" for --max-groups`},
		{"unknown flag", []string{"--dev", "--colour"}, nil,
			"flag provided but not defined: -colour"},
		{"bad listen", []string{"--dev", "--listen", "9000"}, nil,
			`--listen: "9000" is not host:port`},
		{"bad log format", []string{"--dev", "--log-format", "xml"}, nil,
			`--log-format: "xml" is not text or json`},
		{"queue below a line", []string{"--dev", "--queue-bytes", "100"}, nil,
			"--queue-bytes: 100 is less than --max-line (4096)"},
		{"zero rate", []string{"--dev", "--loc-rate", "0"}, nil,
			"--loc-rate: 0 is out of range (0, 1e6]"},
		{"stray argument", []string{"--dev", "serve"}, nil,
			`unexpected argument "serve"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.args, env(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestVersionSkipsValidation(t *testing.T) {
	c, err := Parse([]string{"--version"}, env(nil), io.Discard)
	if err != nil || !c.ShowVersion {
		t.Fatalf("%v %+v", err, c)
	}
}

func TestFlagsHaveEnvTwins(t *testing.T) {
	flags := Flags()
	for _, want := range []string{"listen", "admin-listen", "http-listen", "dev", "jwt-key-file", "jwt-alg",
		"admin-token-file", "trusted-proxies", "max-line", "handshake-timeout", "heartbeat", "max-groups",
		"loc-rate", "max-conns", "max-conns-per-ip", "drain-timeout", "log-level", "log-format", "version"} {
		found := false
		for _, f := range flags {
			found = found || f == want
		}
		if !found {
			t.Errorf("operations.md flag --%s missing", want)
		}
	}
	if EnvName("max-conns-per-ip") != "COMPASS_MAX_CONNS_PER_IP" {
		t.Fatal(EnvName("max-conns-per-ip"))
	}
}
