package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/dataplane/dataplanetest"
	"github.com/ucompass/compass/pkg/loadgen"
)

// The test binary is its own worker: startChild re-executes os.Executable
// with --worker, which lands here before the testing flags are parsed.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "--worker" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m, dataplanetest.GoleakOptions()...)
}

func runBench(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut lockedBuffer
	code := run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// lockedBuffer is written by the coordinator and by the copiers of the
// worker processes' stderr at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Two worker processes, every scenario part at once, checked against the
// server's own counters.
func TestMixedWithWorkerProcesses(t *testing.T) {
	srv := dataplanetest.Start(t, nil, func(c *config.Config) { c.MaxConnsPerIP = 100000 })
	srv.ServeMetrics()
	file := filepath.Join(t.TempDir(), "r.json")
	out, errOut, code := runBench(t, "mixed", "--dev", "--addr", srv.Addr, "--workers", "2",
		"--sessions", "20", "--groups", "3", "--members", "3", "--rate", "3", "--concurrency", "2",
		"--duration", "1500ms", "--source-ips", "4", "--server-pid", strconv.Itoa(os.Getpid()), "--metrics-url", srv.MetricsURL,
		"--json", file, "--strict")
	t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rep loadgen.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Workers != 2 || rep.Sessions.Connected != 29 || rep.Spec.Secret != nil {
		t.Errorf("workers %d, sessions %+v", rep.Workers, rep.Sessions)
	}
	f, c := rep.Fanout, rep.Churn
	if f.Delivered == 0 || f.Lost != 0 || f.Delivered != f.Expected {
		t.Errorf("fanout %+v", f)
	}
	if got := srv.LocSent(); got != float64(f.Delivered) {
		t.Errorf("server sent %v loc, tool received %d", got, f.Delivered)
	}
	if got := srv.Accepted(); got != float64(29+c.Cycles) {
		t.Errorf("server accepted %v, tool made %d sessions and %d churn cycles", got, 29, c.Cycles)
	}
	if !strings.Contains(out, "delivered") || !strings.Contains(errOut, "conn ") {
		t.Error("no table on stdout or no progress on stderr")
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "a scenario is required"},
		{[]string{"idle"}, "exactly one of --dev and --jwt-secret-file is required"},
		{[]string{"idle", "--dev", "--addr", "10.0.0.1:9000"}, "--addr 10.0.0.1:9000 is not a loopback address"},
		{[]string{"burst", "--dev"}, `unknown scenario "burst"`},
		{[]string{"fanout", "--dev", "--members", "1"}, "fanout needs --members >= 2"},
		{[]string{"idle", "--dev", "--source-ips", "-1"}, "--source-ips -1 is out of range"},
		{[]string{"idle", "--dev", "extra"}, `unexpected argument "extra"`},
	} {
		_, errOut, code := runBench(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}
