package deploytest

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
)

// started is what compassd's "compassd started" log line says.
type started struct {
	HTTP  string `json:"http"`
	Admin string `json:"admin"`
}

// startOverlay runs the real compassd with an overlay's arguments and
// environment, as the pod would, on loopback ports of its own choosing,
// with its Secret mounts stood in for by files under a temporary
// directory. It returns the process and the addresses it logged.
func startOverlay(t *testing.T, m *manifest) (*exec.Cmd, started) {
	t.Helper()
	s := m.settings(t)
	env := mountSecrets(t, m, s.env)
	cmd := exec.Command(compassdBinary(t), append(slices.Clone(s.args),
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--log-format", "json")...)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stderr)
		close(lines)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range lines {
		}
		_ = cmd.Wait()
	})
	return cmd, waitStarted(t, lines)
}

// waitStarted reads compassd's log until it says it started, and then
// keeps reading it in the background so that compassd never blocks on it.
func waitStarted(t *testing.T, lines <-chan string) started {
	t.Helper()
	deadline := time.After(20 * time.Second)
	var log []string
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("compassd exited before it started:\n%s", strings.Join(log, "\n"))
			}
			log = append(log, line)
			var ev struct {
				Msg string `json:"msg"`
				started
			}
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Msg == "compassd started" {
				go func() {
					for range lines {
					}
				}()
				return ev.started
			}
		case <-deadline:
			t.Fatalf("compassd did not start in 20 s:\n%s", strings.Join(log, "\n"))
		}
	}
}

// mountSecrets stands in for the pod's Secret volumes: every variable
// whose value lies under a Secret mount is pointed at a file under a
// temporary directory, holding a made-up secret.
func mountSecrets(t *testing.T, m *manifest, env map[string]string) map[string]string {
	t.Helper()
	root := t.TempDir()
	out := maps.Clone(env)
	for k, v := range env {
		mounted, err := secretFile(m, v)
		if !mounted {
			continue
		}
		if err != nil {
			t.Fatalf("%s=%s: %v", k, v, err)
		}
		path := filepath.Join(root, v)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		// 64 hex digits and a newline, as docs/deploy.md makes them.
		secret := hex.EncodeToString([]byte(rand.Text() + rand.Text()))[:64] + "\n"
		if err := os.WriteFile(path, []byte(secret), 0o400); err != nil {
			t.Fatal(err)
		}
		out[k] = path
	}
	return out
}

// TestProbesAnswer: every path the cluster asks of compassd (probes, the
// ServiceMonitor's scrape) answers 200 on the listener it is asked on, and
// the admin listener answers grpc.health.v1, for every overlay's
// configuration; then SIGTERM ends compassd inside
// terminationGracePeriodSeconds.
func TestProbesAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs compassd")
	}
	forEachOverlay(t, func(t *testing.T, m *manifest) {
		c := m.container(t)
		cmd, addrs := startOverlay(t, m)
		for name, p := range map[string]*corev1.Probe{
			"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe,
		} {
			switch {
			case p == nil:
			case p.HTTPGet != nil:
				checkGET(t, name, addrs.HTTP, p.HTTPGet.Path)
			case p.GRPC != nil:
				checkGRPCHealth(t, name, addrs.Admin, p.GRPC.Service)
			}
		}
		// What compass-admin points at speaks gRPC, health included.
		checkGRPCHealth(t, "admin listener", addrs.Admin, nil)
		for _, sm := range m.monitors {
			for _, ep := range sm.Spec.Endpoints {
				path := cmp.Or(ep.Path, "/metrics") // the operator's default
				checkGET(t, "ServiceMonitor "+sm.Name, addrs.HTTP, path)
			}
		}
		grace := time.Duration(*m.deployment.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
		start := time.Now()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("compassd on SIGTERM: %v", err)
			}
			t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
		case <-time.After(grace):
			t.Errorf("compassd still running %v after SIGTERM (terminationGracePeriodSeconds)", grace)
		}
	})
}

// eventually retries check for up to 5 s, as a probe's failureThreshold
// would: compassd turns ready (and its gRPC health SERVING) just after it
// starts, not necessarily before it logs so.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: %v", what, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func checkGET(t *testing.T, what, addr, path string) {
	t.Helper()
	eventually(t, what, func() error {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s, want 200", path, resp.Status)
		}
		return nil
	})
}

func checkGRPCHealth(t *testing.T, what, addr string, service *string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	defer conn.Close()
	req := &healthpb.HealthCheckRequest{}
	if service != nil {
		req.Service = *service
	}
	eventually(t, what, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, req)
		if err != nil {
			return err
		}
		if resp.Status != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("grpc.health.v1.Health/Check on %s: %s, want SERVING", addr, resp.Status)
		}
		return nil
	})
}
