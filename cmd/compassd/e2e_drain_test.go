//go:build e2e

package main

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/client"
)

// SIGTERM with clients connected: readiness drops, every session gets bye
// shutdown with retry_after_ms 0, and the process exits 0 within the drain
// window.
func TestDrainOnSIGTERM(t *testing.T) {
	c := startCompassd(t, "--drain-timeout", "1s")
	var cs []*client.Client
	for i := range 30 {
		cl := c.dial(t, "user"+string(rune('a'+i%26))+string(rune('a'+i/26)), "g")
		cs = append(cs, cl)
	}
	begin := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sawNotReady := false
	for range 50 {
		res, err := http.Get("http://" + c.http + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusServiceUnavailable {
				sawNotReady = true
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !sawNotReady {
		t.Error("/readyz never answered 503 while draining")
	}
	for i, cl := range cs {
		var last client.Message
		for m := range cl.Messages() {
			last = m
		}
		if last.Type != "bye" || last.Reason != "shutdown" || last.RetryAfterMS == nil || *last.RetryAfterMS != 0 {
			t.Fatalf("client %d: last message %s, want bye shutdown retry 0", i, last.Raw)
		}
	}
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("compassd still running 10s after SIGTERM")
	}
	if c.waitErr != nil {
		t.Fatalf("exit: %v\n%s", c.waitErr, c.stderr)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("drain with a 1s window took %v", d)
	}
}

// Operator mistakes stop start-up with a message naming the problem.
func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	writeFile(t, short, "too-short")
	token := filepath.Join(dir, "token")
	writeFile(t, token, "admin")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no key", []string{"--admin-token-file", token}, "--jwt-key-file: required without --dev"},
		{"no admin token", []string{"--jwt-key-file", short}, "--admin-token-file: required without --dev"},
		{"missing key file", []string{"--jwt-key-file", filepath.Join(dir, "nope"), "--admin-token-file", token}, "--jwt-key-file: "},
		{"short secret", []string{"--jwt-key-file", short, "--admin-token-file", token}, "too short"},
		{"bad flag value", []string{"--dev", "--max-line", "x"}, `invalid value "x" for flag -max-line`},
		{"port in use", []string{"--dev", "--listen", "127.0.0.1:0", "--http-listen", "256.0.0.1:1"}, "--http-listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(compassdBin, append(tc.args, "--admin-listen", "127.0.0.1:0")...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("compassd started: %s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("output %q does not name %q", out, tc.want)
			}
		})
	}
}

func TestVersionFlag(t *testing.T) {
	out, err := exec.Command(compassdBin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "compassd ") {
		t.Fatalf("%s %v", out, err)
	}
}
