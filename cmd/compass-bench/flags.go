package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/ucompass/compass/pkg/loadgen"
)

// options are the command line, parsed.
type options struct {
	spec       loadgen.Spec
	worker     bool // hidden: run one worker on stdin/stdout
	workers    int
	sourceIPs  int
	secretFile string
	dev        bool
	serverPID  int
	serverCmd  string
	serverLog  string
	metricsURL string
	jsonFile   string
	quiet      bool
	strict     bool
}

const usageHead = `usage: compass-bench idle|fanout|churn|mixed [flags]

  idle    hold --sessions handshaken sessions for --duration
  fanout  --groups × --members sessions, each publishing --rate loc/s to its group
  churn   --concurrency loops of connect, handshake, join, disconnect
  mixed   all of the above at once (each part runs if its count is > 0)

flags:
`

// scenario defaults, applied when the flag was not given.
var defaults = map[string]map[string]string{
	loadgen.ScenarioIdle:   {"sessions": "1000"},
	loadgen.ScenarioFanout: {"groups": "100", "members": "10", "rate": "1"},
	loadgen.ScenarioChurn:  {"concurrency": "32"},
	loadgen.ScenarioMixed:  {"sessions": "1000", "groups": "100", "members": "10", "rate": "1", "concurrency": "8"},
}

// parseArgs reads the scenario (first argument) and the flags.
func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	if len(args) > 0 && args[0] == "--worker" {
		o.worker = true
		return o, nil
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := o.flagSet(stderr)
		fs.Usage()
		return o, errors.New("a scenario is required")
	}
	o.spec.Scenario = args[0]
	fs := o.flagSet(stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, v := range defaults[o.spec.Scenario] {
		if !given[name] {
			_ = fs.Set(name, v)
		}
	}
	return o, o.finish()
}

func (o *options) flagSet(stderr io.Writer) *flag.FlagSet {
	s := &o.spec
	fs := flag.NewFlagSet("compass-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
	}
	fs.StringVar(&s.Addr, "addr", "127.0.0.1:9000", "compassd data plane address (loopback only)")
	fs.BoolVar(&o.dev, "dev", false, "hello with a user name (compassd --dev)")
	fs.StringVar(&o.secretFile, "jwt-secret-file", "", "HS256 secret (compassd --jwt-key-file): hello with minted tokens")
	fs.IntVar(&s.Idle, "sessions", 0, "idle sessions (idle, mixed)")
	fs.IntVar(&s.Groups, "groups", 0, "fanout groups (fanout, mixed)")
	fs.IntVar(&s.Members, "members", 0, "sessions per group")
	fs.Float64Var(&s.Rate, "rate", 0, "loc a second each member publishes (compassd allows --loc-rate, 10 by default)")
	fs.IntVar(&s.Churn, "concurrency", 0, "churn loops (churn, mixed)")
	fs.Float64Var(&s.ChurnRate, "churn-rate", 0, "cap on churn cycles a second (0: as fast as the server allows)")
	fs.DurationVar(&s.Duration, "duration", 10*time.Second, "measured phase")
	fs.DurationVar(&s.Drain, "drain", 3*time.Second, "longest wait for in-flight deliveries after it")
	fs.DurationVar(&s.DialTimeout, "dial-timeout", 10*time.Second, "dial + handshake (and join) timeout")
	fs.IntVar(&s.Setup, "setup-concurrency", 128, "concurrent dials while opening sessions")
	fs.DurationVar(&s.Ping, "ping", 0, "idle sessions ping this often (0: the heartbeat compassd announces)")
	fs.IntVar(&s.Inbox, "inbox", 16, "client Messages capacity per fanout session")
	fs.StringVar(&s.Prefix, "prefix", "", "prefix of user and group names (default: random per run)")
	fs.IntVar(&o.sourceIPs, "source-ips", 64, "spread connections over source addresses 127.0.0.2 and up (0: let the kernel choose)")
	fs.IntVar(&o.workers, "workers", 0, "worker processes (0: as many as the open-file limit requires; 1: in-process)")
	fs.IntVar(&o.serverPID, "server-pid", 0, "read the server's CPU time and RSS from /proc/PID")
	fs.StringVar(&o.serverCmd, "server-cmd", "", "start this compassd command line (split at spaces) first, measure it, stop it at the end")
	fs.StringVar(&o.serverLog, "server-log", "", "file for --server-cmd's output (default: this tool's stderr)")
	fs.StringVar(&o.metricsURL, "metrics-url", "", "scrape compassd's /metrics (e.g. http://127.0.0.1:9002/metrics) at phase edges")
	fs.StringVar(&o.jsonFile, "json", "", "write the report as JSON to this file")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&o.strict, "strict", false, "exit 3 when anything was lost, refused or ended early (for CI)")
	return fs
}

// finish checks the flags together and fills the spec.
func (o *options) finish() error {
	s := &o.spec
	switch s.Scenario {
	case loadgen.ScenarioIdle:
		s.Groups, s.Churn = 0, 0
	case loadgen.ScenarioFanout:
		s.Idle, s.Churn = 0, 0
	case loadgen.ScenarioChurn:
		s.Idle, s.Groups = 0, 0
	}
	if o.dev == (o.secretFile != "") {
		return errors.New("exactly one of --dev and --jwt-secret-file is required (as compassd is run)")
	}
	if o.secretFile != "" {
		b, err := os.ReadFile(o.secretFile)
		if err != nil {
			return fmt.Errorf("--jwt-secret-file: %w", err)
		}
		s.Secret = b
	}
	if err := checkLoopback(s.Addr); err != nil {
		return err
	}
	srcs, err := sources(o.sourceIPs)
	if err != nil {
		return err
	}
	s.Sources = srcs
	if s.Prefix == "" {
		s.Prefix = fmt.Sprintf("b%04x-", rand.N(1<<16))
	}
	s.Defaults()
	return s.Validate()
}

// checkLoopback refuses targets outside 127.0.0.0/8: this tool is for
// this machine only.
func checkLoopback(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	if !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("--addr %s is not a loopback address", addr)
	}
	return nil
}

// sources returns n loopback source addresses from 127.0.0.2 up.
func sources(n int) ([]string, error) {
	if n < 0 || n > 1<<16 {
		return nil, fmt.Errorf("--source-ips %d is out of range [0, 65536]", n)
	}
	out := make([]string, n)
	a := netip.MustParseAddr("127.0.0.2")
	for i := range out {
		out[i] = a.String()
		a = a.Next()
	}
	return out, nil
}
