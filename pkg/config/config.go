// Package config defines compassd's configuration: one Config struct with
// defaults, parsed from flags and their COMPASS_ environment twins, and
// validated before anything starts. It holds no global state.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"

	"strings"
	"time"
)

// Config is everything compassd can be told at start-up.
type Config struct {
	Listen      string
	AdminListen string
	HTTPListen  string

	Dev            bool
	JWTKeyFile     string
	JWTAlg         string
	AdminTokenFile string
	TrustedProxies []netip.Prefix

	MaxLine          int
	HandshakeTimeout time.Duration
	Heartbeat        time.Duration
	MaxGroups        int
	LocRate          float64
	LocBurst         int
	MaxConns         int
	MaxConnsPerIP    int
	DrainTimeout     time.Duration
	AbuseThreshold   int
	AbuseWindow      time.Duration
	QueueBytes       int
	QueueMessages    int
	WriteTimeout     time.Duration
	SnifferRing      int
	BufferSize       int
	Loops            int

	// Hardening (docs/security.md).
	Autoban          bool
	AutobanThreshold int
	AutobanWindow    time.Duration
	AutobanDuration  time.Duration
	AutobanAllow     []netip.Prefix
	// AutobanMaxTracked bounds the addresses counted at once; past it,
	// strikes from new addresses are not counted (compass_autoban_untracked_total).
	AutobanMaxTracked int
	MaxBufferedBytes  int64   // 0: no bound
	MaxAcceptRate     float64 // new connections a second; 0: no bound
	MaxAcceptBurst    int

	LogLevel  string
	LogFormat string

	ShowVersion bool

	Cluster Cluster // cluster mode (cluster.go)
}

// Default returns the configuration compassd runs with when told nothing.
func Default() Config {
	return Config{
		Listen:            ":9000",
		AdminListen:       "127.0.0.1:9001",
		HTTPListen:        ":9002",
		JWTAlg:            "HS256",
		MaxLine:           4096,
		HandshakeTimeout:  5 * time.Second,
		Heartbeat:         30 * time.Second,
		MaxGroups:         16,
		LocRate:           10,
		LocBurst:          10,
		MaxConns:          100000,
		MaxConnsPerIP:     1024,
		DrainTimeout:      10 * time.Second,
		AbuseThreshold:    20,
		AbuseWindow:       time.Minute,
		QueueBytes:        256 << 10,
		QueueMessages:     1024,
		WriteTimeout:      5 * time.Second,
		SnifferRing:       128,
		BufferSize:        1024,
		Autoban:           true,
		AutobanThreshold:  20,
		AutobanWindow:     time.Minute,
		AutobanDuration:   10 * time.Minute,
		AutobanMaxTracked: 65536,
		// Loopback is where a sidecar proxy without PROXY protocol (or a
		// local health checker) connects from: banning it bans everyone.
		AutobanAllow:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		MaxBufferedBytes: 512 << 20,
		MaxAcceptRate:    5000,
		MaxAcceptBurst:   10000,
		LogLevel:         "info",
		LogFormat:        "text",
	}
}

// EnvPrefix is prepended to a flag's upper-cased name (dashes become
// underscores) to name its environment twin.
const EnvPrefix = "COMPASS_"

// EnvName returns the environment variable that stands for flag name.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// ErrHelp is returned by Parse when -h or --help was asked for.
var ErrHelp = flag.ErrHelp

// Parse reads args (without the program name) and then the environment
// (getenv) for every flag not given on the command line, and validates the
// result. Errors name the flag or variable at fault.
func Parse(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	c := Default()
	fs := c.flagSet(usage)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		env := EnvName(f.Name)
		if v := getenv(env); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: invalid value %q for --%s: %v", env, v, f.Name, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if c.ShowVersion {
		return c, nil
	}
	return c, c.Validate()
}

// Flags lists the names of every flag compassd accepts (deployment tests
// check manifests against it).
func Flags() []string {
	c := Default()
	var names []string
	c.flagSet(io.Discard).VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

func (c *Config) flagSet(usage io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("compassd", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&c.Listen, "listen", c.Listen, "data plane address (protocol.md)")
	fs.StringVar(&c.AdminListen, "admin-listen", c.AdminListen, "gRPC control plane address")
	fs.StringVar(&c.HTTPListen, "http-listen", c.HTTPListen, "address of /metrics, /healthz and /readyz")
	fs.BoolVar(&c.Dev, "dev", c.Dev, "development mode: no authentication for clients or the admin API")
	fs.StringVar(&c.JWTKeyFile, "jwt-key-file", c.JWTKeyFile, "file with the HS256 secret or the PEM public key that verifies client tokens")
	fs.StringVar(&c.JWTAlg, "jwt-alg", c.JWTAlg, "token algorithm: HS256, EdDSA, RS256 or ES256")
	fs.StringVar(&c.AdminTokenFile, "admin-token-file", c.AdminTokenFile, "file with the bearer token of the admin API")
	fs.Func("trusted-proxies", "comma-separated CIDRs allowed to send a PROXY protocol header", c.setTrusted)
	fs.IntVar(&c.MaxLine, "max-line", c.MaxLine, "longest protocol line in bytes, terminator included")
	fs.DurationVar(&c.HandshakeTimeout, "handshake-timeout", c.HandshakeTimeout, "time from accept by which preamble and hello must have arrived")
	fs.DurationVar(&c.Heartbeat, "heartbeat", c.Heartbeat, "heartbeat interval announced to clients; silence for three closes a session")
	fs.IntVar(&c.MaxGroups, "max-groups", c.MaxGroups, "groups one session may join")
	fs.Float64Var(&c.LocRate, "loc-rate", c.LocRate, "loc messages a session may publish per second")
	fs.IntVar(&c.LocBurst, "loc-burst", c.LocBurst, "burst of the loc rate limiter")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "open data plane connections at most")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", c.MaxConnsPerIP, "open data plane connections per client address at most (mind carrier-grade NAT)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "time over which sessions are sent bye and closed on shutdown")
	fs.IntVar(&c.AbuseThreshold, "abuse-threshold", c.AbuseThreshold, "protocol errors within --abuse-window after which a session is closed with bye abuse")
	fs.DurationVar(&c.AbuseWindow, "abuse-window", c.AbuseWindow, "window of the abuse score")
	fs.IntVar(&c.QueueBytes, "queue-bytes", c.QueueBytes, "outbound bytes queued per session before it is a slow consumer")
	fs.IntVar(&c.QueueMessages, "queue-messages", c.QueueMessages, "outbound messages queued per session before it is a slow consumer")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "longest a write to one client may block before the session is closed")
	fs.IntVar(&c.SnifferRing, "sniffer-ring", c.SnifferRing, "recent rejected connections kept for the control plane")
	fs.IntVar(&c.BufferSize, "buffer-size", c.BufferSize, "netpoll's initial per-connection buffer in bytes (memory per idle session)")
	fs.IntVar(&c.Loops, "loops", c.Loops, "netpoll poller loops (0: one per 20 CPUs, netpoll's default)")
	c.hardeningFlags(fs)
	c.clusterFlags(fs)
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.BoolVar(&c.ShowVersion, "version", false, "print the version and exit")
	return fs
}

func (c *Config) setTrusted(s string) error {
	p, err := parsePrefixes(s)
	c.TrustedProxies = p
	return err
}

// hardeningFlags are the flags of docs/security.md: automatic bans and the
// process-wide bounds.
func (c *Config) hardeningFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Autoban, "autoban", c.Autoban, "ban an address that sends --autoban-threshold rejected (non-U-Compass) connections within --autoban-window")
	fs.IntVar(&c.AutobanThreshold, "autoban-threshold", c.AutobanThreshold, "rejected connections within --autoban-window that ban an address")
	fs.DurationVar(&c.AutobanWindow, "autoban-window", c.AutobanWindow, "window in which rejected connections are counted per address")
	fs.DurationVar(&c.AutobanDuration, "autoban-duration", c.AutobanDuration, "how long an automatic ban lasts")
	fs.IntVar(&c.AutobanMaxTracked, "autoban-max-tracked", c.AutobanMaxTracked, "addresses whose rejected connections are counted at once (about 100 bytes each)")
	fs.Func("autoban-allow", "comma-separated CIDRs never banned automatically (default 127.0.0.0/8,::1/128)", func(s string) error {
		p, err := parsePrefixes(s)
		c.AutobanAllow = p
		return err
	})
	fs.Int64Var(&c.MaxBufferedBytes, "max-buffered-bytes", c.MaxBufferedBytes, "bytes held in partial lines and outbound queues across all connections past which new connections are refused (0: no bound)")
	fs.Float64Var(&c.MaxAcceptRate, "max-accept-rate", c.MaxAcceptRate, "new data plane connections accepted per second; past it they are closed at once (0: no bound)")
	fs.IntVar(&c.MaxAcceptBurst, "max-accept-burst", c.MaxAcceptBurst, "burst of the accept rate limiter")
}

// parsePrefixes parses comma-separated CIDRs or addresses.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := ParsePrefix(part)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParsePrefix accepts a CIDR or a single address (as a /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("bad CIDR %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Validate reports every value that compassd cannot run with, naming the flag.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	for flag, addr := range map[string]string{"listen": c.Listen, "admin-listen": c.AdminListen, "http-listen": c.HTTPListen} {
		if !strings.Contains(addr, ":") {
			bad(flag, "%q is not host:port", addr)
		}
	}
	if !c.Dev {
		if c.JWTKeyFile == "" {
			bad("jwt-key-file", "required without --dev: clients cannot be authenticated")
		}
		if c.AdminTokenFile == "" {
			bad("admin-token-file", "required without --dev: the admin API would be open")
		}
	}
	switch c.JWTAlg {
	case "HS256", "EdDSA", "RS256", "ES256":
	default:
		bad("jwt-alg", "%q is not one of HS256, EdDSA, RS256, ES256", c.JWTAlg)
	}
	c.checkLimits(bad)
	c.checkCluster(bad)
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log-format", "%q is not text or json", c.LogFormat)
	}
	return errors.Join(errs...)
}

func (c *Config) checkLimits(bad func(flag, format string, args ...any)) {
	ints := []struct {
		flag      string
		v, lo, hi int
	}{
		{"max-line", c.MaxLine, 256, 1 << 20},
		{"max-groups", c.MaxGroups, 1, 10000},
		{"loc-burst", c.LocBurst, 1, 1000000},
		{"max-conns", c.MaxConns, 1, 100000000},
		{"max-conns-per-ip", c.MaxConnsPerIP, 1, 100000000},
		{"abuse-threshold", c.AbuseThreshold, 1, 1000000},
		{"queue-messages", c.QueueMessages, 1, 1 << 24},
		{"sniffer-ring", c.SnifferRing, 1, 1 << 16},
		{"buffer-size", c.BufferSize, 256, 1 << 20},
		{"loops", c.Loops, 0, 1024},
		{"autoban-threshold", c.AutobanThreshold, 1, 1000000},
		{"autoban-max-tracked", c.AutobanMaxTracked, 1, 1 << 24},
		{"max-accept-burst", c.MaxAcceptBurst, 1, 100000000},
	}
	for _, i := range ints {
		if i.v < i.lo || i.v > i.hi {
			bad(i.flag, "%d is out of range [%d, %d]", i.v, i.lo, i.hi)
		}
	}
	if c.QueueBytes < c.MaxLine {
		bad("queue-bytes", "%d is less than --max-line (%d)", c.QueueBytes, c.MaxLine)
	}
	if !(c.LocRate > 0) || c.LocRate > 1e6 {
		bad("loc-rate", "%v is out of range (0, 1e6]", c.LocRate)
	}
	if !(c.MaxAcceptRate >= 0) || c.MaxAcceptRate > 1e7 {
		bad("max-accept-rate", "%v is out of range [0, 1e7]", c.MaxAcceptRate)
	}
	if c.MaxBufferedBytes != 0 && c.MaxBufferedBytes < int64(c.QueueBytes) {
		bad("max-buffered-bytes", "%d is neither 0 nor at least --queue-bytes (%d)", c.MaxBufferedBytes, c.QueueBytes)
	}
	durs := []struct {
		flag string
		v    time.Duration
	}{
		{"handshake-timeout", c.HandshakeTimeout}, {"heartbeat", c.Heartbeat},
		{"drain-timeout", c.DrainTimeout}, {"abuse-window", c.AbuseWindow}, {"write-timeout", c.WriteTimeout},
		{"autoban-window", c.AutobanWindow}, {"autoban-duration", c.AutobanDuration},
	}
	for _, d := range durs {
		if d.v <= 0 {
			bad(d.flag, "%v must be positive", d.v)
		}
	}
}
