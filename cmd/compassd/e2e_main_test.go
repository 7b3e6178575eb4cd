//go:build e2e

// End-to-end tests against the built compassd binary (make e2e). TestMain
// builds the binary once; startCompassd runs it on loopback port 0s, the
// way an operator would (token files, SIGTERM), and checks that it exits 0.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// compassdBin is the binary TestMain built for this run.
var compassdBin string

func TestMain(m *testing.M) { os.Exit(e2eMain(m)) }

func e2eMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "compassd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	compassdBin = filepath.Join(dir, "compassd")
	build := exec.Command("go", "build", "-o", compassdBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// compassd is one running compassd process.
type compassd struct {
	t                 *testing.T
	cmd               *exec.Cmd
	pid               int
	data, admin, http string // bound addresses, from the "compassd started" log line
	token             string // the admin bearer token (in --admin-token-file)
	secret            []byte // the HS256 key of client tokens (in --jwt-key-file)
	stderr            *lockedBuffer
	exited            chan struct{}
	waitErr           error
}

// startCompassd runs the binary with --admin-token-file and --jwt-key-file
// (fresh temp files), every listener on 127.0.0.1:0, JSON logs, a 2 s drain
// and then extra (later flags win). It returns once /readyz is 200, and at
// cleanup sends SIGTERM and fails the test unless the process exits 0.
func startCompassd(t *testing.T, extra ...string) *compassd {
	t.Helper()
	dir := t.TempDir()
	c := &compassd{t: t, token: "e2e-admin-" + randHex(t, 16), secret: []byte("e2e-jwt-secret-" + randHex(t, 24)),
		stderr: &lockedBuffer{}, exited: make(chan struct{})}
	tokenFile, keyFile := filepath.Join(dir, "admin-token"), filepath.Join(dir, "jwt-key")
	writeFile(t, tokenFile, c.token+"\n")
	writeFile(t, keyFile, string(c.secret))
	args := append([]string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--admin-token-file", tokenFile, "--jwt-key-file", keyFile, "--log-format", "json", "--drain-timeout", "2s"}, extra...)
	c.cmd = exec.Command(compassdBin, args...)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	pipe, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.pid = c.cmd.Process.Pid
	started := make(chan map[string]any, 1)
	go c.readLogs(pipe, started)
	t.Cleanup(c.stop)
	c.waitStarted(started)
	c.waitReady()
	return c
}

// readLogs copies stderr into the buffer and reports the started line.
func (c *compassd) readLogs(r io.Reader, started chan<- map[string]any) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		c.stderr.Write(append(line, '\n'))
		var rec map[string]any
		if json.Unmarshal(line, &rec) == nil && rec["msg"] == "compassd started" {
			started <- rec
		}
	}
	c.waitErr = c.cmd.Wait()
	close(c.exited)
}

func (c *compassd) waitStarted(started <-chan map[string]any) {
	c.t.Helper()
	select {
	case rec := <-started:
		c.data, _ = rec["listen"].(string)
		c.admin, _ = rec["admin"].(string)
		c.http, _ = rec["http"].(string)
		if c.data == "" || c.admin == "" || c.http == "" {
			c.t.Fatalf("started line without addresses: %v", rec)
		}
	case <-c.exited:
		c.t.Fatalf("compassd exited at start: %v\n%s", c.waitErr, c.stderr)
	case <-time.After(15 * time.Second):
		c.t.Fatalf("no \"compassd started\" line within 15s:\n%s", c.stderr)
	}
}

func (c *compassd) waitReady() {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + c.http + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("/readyz not 200 within 10s (%v):\n%s", err, c.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and checks for exit code 0 and that no secret was
// logged.
func (c *compassd) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		c.t.Errorf("compassd did not exit within 30s of SIGTERM:\n%s", c.stderr)
		return
	}
	if c.waitErr != nil {
		c.t.Errorf("compassd exited with %v after SIGTERM, want 0:\n%s", c.waitErr, c.stderr)
	}
	if logs := c.stderr.String(); strings.Contains(logs, c.token) || strings.Contains(logs, string(c.secret)) {
		c.t.Errorf("a secret was logged:\n%s", logs)
	}
}

// requireGrpcurl returns the grpcurl on PATH, failing (never skipping) the
// test when there is none.
func requireGrpcurl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("grpcurl")
	if err != nil {
		t.Fatalf("grpcurl not found on PATH (%v): run `make tools` (it installs grpcurl into .bin) and use `make e2e`, or put .bin on PATH", err)
	}
	return p
}

// grpcurlResult is the outcome of one grpcurl run.
type grpcurlResult struct {
	stdout, stderr string
	code           int
}

// grpcurl runs grpcurl with args (at most 30 s).
func grpcurl(t *testing.T, args ...string) grpcurlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireGrpcurl(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := grpcurlResult{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("grpcurl %q: %v", args, err)
	}
	return r
}

// adminArgs is the grpcurl prefix for calls to c's admin API: plaintext,
// with the bearer token, then the address.
func (c *compassd) adminArgs(flags ...string) []string {
	args := append([]string{"-plaintext", "-H", "authorization: Bearer " + c.token}, flags...)
	return append(args, c.admin)
}

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

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	return hex.EncodeToString(b)
}
