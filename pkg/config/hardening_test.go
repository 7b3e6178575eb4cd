package config

import (
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHardeningDefaults(t *testing.T) {
	c, err := Parse([]string{"--dev"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	loop := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if !c.Autoban || c.AutobanThreshold != 20 || c.AutobanWindow != time.Minute || c.AutobanDuration != 10*time.Minute ||
		!slices.Equal(c.AutobanAllow, loop) || c.MaxBufferedBytes != 512<<20 || c.MaxAcceptRate != 5000 || c.MaxAcceptBurst != 10000 {
		t.Fatalf("%+v", c)
	}
}

func TestHardeningFlagsAndEnv(t *testing.T) {
	c, err := Parse([]string{"--dev", "--autoban-allow", "10.0.0.0/8, 192.0.2.7", "--max-accept-rate", "0"},
		env(map[string]string{
			"COMPASS_AUTOBAN":            "false",
			"COMPASS_AUTOBAN_THRESHOLD":  "5",
			"COMPASS_AUTOBAN_WINDOW":     "10s",
			"COMPASS_AUTOBAN_DURATION":   "1h",
			"COMPASS_AUTOBAN_ALLOW":      "172.16.0.0/12", // the flag wins
			"COMPASS_MAX_BUFFERED_BYTES": "0",
			"COMPASS_MAX_ACCEPT_BURST":   "7",
		}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	allow := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}
	if c.Autoban || c.AutobanThreshold != 5 || c.AutobanWindow != 10*time.Second || c.AutobanDuration != time.Hour ||
		!slices.Equal(c.AutobanAllow, allow) || c.MaxBufferedBytes != 0 || c.MaxAcceptRate != 0 || c.MaxAcceptBurst != 7 {
		t.Fatalf("%+v", c)
	}
	for _, f := range []string{"autoban", "autoban-threshold", "autoban-window", "autoban-duration", "autoban-allow",
		"max-buffered-bytes", "max-accept-rate", "max-accept-burst"} {
		if !slices.Contains(Flags(), f) {
			t.Errorf("--%s missing from Flags()", f)
		}
	}
}

func TestHardeningErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--autoban-threshold", "0"}, "--autoban-threshold: 0 is out of range [1, 1000000]"},
		{[]string{"--autoban-window", "0s"}, "--autoban-window: 0s must be positive"},
		{[]string{"--autoban-duration", "-1m"}, "--autoban-duration: -1m0s must be positive"},
		{[]string{"--autoban-allow", "10.0.0.0/40"}, `invalid value "10.0.0.0/40" for flag -autoban-allow: bad CIDR "10.0.0.0/40"`},
		{[]string{"--autoban=maybe"}, `invalid boolean value "maybe" for -autoban`},
		{[]string{"--max-buffered-bytes", "1000"}, "--max-buffered-bytes: 1000 is neither 0 nor at least --queue-bytes (262144)"},
		{[]string{"--max-accept-rate", "-1"}, "--max-accept-rate: -1 is out of range [0, 1e7]"},
		{[]string{"--max-accept-rate", "NaN"}, "--max-accept-rate: NaN is out of range [0, 1e7]"},
		{[]string{"--max-accept-burst", "0"}, "--max-accept-burst: 0 is out of range [1, 100000000]"},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			_, err := Parse(append([]string{"--dev"}, tc.args...), env(nil), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAutobanMaxTrackedFlag(t *testing.T) {
	c, err := Parse([]string{"--dev", "--autoban-max-tracked", "100"}, func(string) string { return "" }, io.Discard)
	if err != nil || c.AutobanMaxTracked != 100 {
		t.Fatalf("%v %d", err, c.AutobanMaxTracked)
	}
	_, err = Parse([]string{"--dev", "--autoban-max-tracked", "0"}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--autoban-max-tracked: 0 is out of range") {
		t.Fatalf("got %v", err)
	}
}
