//go:build e2e

package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// advAttack is one attack on the data port: run attacks and describes what
// the attacker saw; check judges what the server counted, after says more
// about it (optional). Tool attacks run in the test process, niced; the
// generated ones in the attacker process (advAttacker), niced too.
type advAttack struct {
	name  string
	tool  bool   // run by a real tool, from the test process
	from  string // source address ("" for tools: 127.0.0.1)
	run   func(e *advEnv) string
	check func(e *advEnv, d advDelta) error
	after func(e *advEnv) string
}

// advEnv is what an attack works with. t, srv and adm exist only in the
// test process (tools, check, after); run of a generated attack has the
// data address, the token key, its source address and errorf.
type advEnv struct {
	t      *testing.T
	srv    *compassd
	adm    *advAdmin
	data   string
	secret []byte
	from   string
	errorf func(format string, args ...any)
}

// advDelta is what the server counted during one attack.
type advDelta struct {
	accepted int
	classes  map[string]float64 // GetSnifferStats, by class
	refused  map[string]float64 // closed at accept, by reason
	metrics  map[string]float64 // every /metrics sample
}

func (d advDelta) metric(name string) int { return int(d.metrics[name]) }

// advRun runs one attack and waits until every connection it made is
// accounted for: classified by the sniffer or refused at accept.
func advRun(t *testing.T, srv *compassd, adm *advAdmin, atk *advAttacker, a advAttack) advRow {
	e := &advEnv{t: t, srv: srv, adm: adm, data: srv.data, secret: srv.secret, from: a.from, errorf: t.Errorf}
	c0, m0 := adm.classes(t), advScrape(t, srv.http)
	var note string
	if a.tool {
		note = a.run(e)
	} else {
		note = atk.run(t, a.name)
	}
	var d advDelta
	deadline := time.Now().Add(advHandshakeTimeout + 5*time.Second)
	for {
		d = advDiff(adm.classes(t), c0, advScrape(t, srv.http), m0)
		sum := 0
		for _, v := range d.classes {
			sum += int(v)
		}
		for _, v := range d.refused {
			sum += int(v)
		}
		if sum == d.accepted || time.Now().After(deadline) {
			if sum != d.accepted {
				t.Errorf("%s: %d connections accepted, %d classified or refused", a.name, d.accepted, sum)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	counted := map[string]float64{}
	for k, v := range d.classes {
		counted[k] = v
	}
	for k, v := range d.refused {
		counted["refused:"+k] = v
	}
	row := advRow{attack: a.name, conns: d.accepted, counted: advFormat(counted), result: note}
	if a.after != nil {
		row.result = a.after(e)
	}
	if err := a.check(e, d); err != nil {
		t.Errorf("%s: %v (counted %s)", a.name, err, row.counted)
		row.result = "FAIL: " + err.Error()
	}
	return row
}

func advDiff(c1, c0, m1, m0 map[string]float64) advDelta {
	d := advDelta{classes: map[string]float64{}, refused: map[string]float64{}, metrics: map[string]float64{}}
	for k, v := range c1 {
		d.classes[k] = v - c0[k]
	}
	for k, v := range m1 {
		d.metrics[k] = v - m0[k]
	}
	d.accepted = d.metric("compass_connections_accepted_total")
	for _, r := range advRefusals {
		d.refused[r] = d.metrics[advClosed(r)]
	}
	return d
}

// advExpect checks that the classes and refusals counted are exactly want.
func advExpect(d advDelta, want map[string]int) error {
	got := map[string]int{}
	for k, v := range d.classes {
		if v != 0 {
			got[k] = int(v)
		}
	}
	for k, v := range d.refused {
		if v != 0 {
			got["refused:"+k] = int(v)
		}
	}
	for k, v := range want {
		if got[k] != v {
			return fmt.Errorf("%s counted %d, want %d", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			return fmt.Errorf("unexpected %s=%d", k, v)
		}
	}
	return nil
}

// advOnly checks that only the given classes or refusals were counted,
// at least min connections in all.
func advOnly(d advDelta, min int, allowed ...string) error {
	if d.accepted < min {
		return fmt.Errorf("%d connections, want at least %d", d.accepted, min)
	}
	for k, v := range d.classes {
		if v != 0 && !slices.Contains(allowed, k) {
			return fmt.Errorf("unexpected class %s=%d", k, int(v))
		}
	}
	for k, v := range d.refused {
		if v != 0 && !slices.Contains(allowed, "refused:"+k) {
			return fmt.Errorf("unexpected refusal %s=%d", k, int(v))
		}
	}
	return nil
}

// advTool runs a real attack tool against the data port; a non-zero exit
// is the tool's verdict (curl's "empty reply"), not a failure. It runs
// niced: on a small test machine an attacker on the same CPUs would
// otherwise be measured stealing compassd's CPU, which a remote one cannot.
func advTool(e *advEnv, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nice", append([]string{"-n", advNice, name}, args...)...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		e.t.Fatalf("%s: %v\n%s", name, err, out)
	}
	if ctx.Err() != nil {
		e.t.Errorf("%s did not finish in 2 minutes:\n%s", name, out)
	}
	return string(out)
}

// advAttacker is the attacker process: this test binary run again (as
// TestAdversarialAttackerProcess) under nice, for the generated attacks.
// In the test process they would share a Go scheduler with the legit
// clients and be measured delaying them, which a remote attacker cannot
// do; as its own niced process it is closer to an attacker on another
// machine. TestAdversarial writes one attack name a line to its stdin and
// reads one "ADV-RESULT {json}" line back.
type advAttacker struct {
	in     io.WriteCloser
	lines  chan string
	stderr *lockedBuffer
}

type advResult struct {
	Note   string
	Errors []string
}

func advStartAttacker(t *testing.T, srv *compassd) *advAttacker {
	t.Helper()
	cmd := exec.Command("nice", "-n", advNice, os.Args[0], "-test.run=^TestAdversarialAttackerProcess$", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), "COMPASS_ADV_DATA="+srv.data, "COMPASS_ADV_SECRET="+hex.EncodeToString(srv.secret))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	a := &advAttacker{lines: make(chan string, 16), stderr: &lockedBuffer{}}
	cmd.Stderr = a.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("attacker process: %v", err)
	}
	a.in = in
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			a.lines <- sc.Text()
		}
		close(a.lines)
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = in.Close() // the attacker returns at EOF
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	a.await(t, "ADV-READY")
	return a
}

// await returns the first line with prefix (the build in TestMain comes
// first: allow it time).
func (a *advAttacker) await(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(3 * time.Minute)
	for {
		select {
		case l, ok := <-a.lines:
			if !ok {
				t.Fatalf("attacker process ended before %s:\n%s", prefix, a.stderr)
			}
			if strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix)
			}
		case <-timeout:
			t.Fatalf("attacker process: no %s within 3 minutes:\n%s", prefix, a.stderr)
		}
	}
}

// run has the attacker process run attack name; its errors fail the test.
func (a *advAttacker) run(t *testing.T, name string) string {
	t.Helper()
	if _, err := fmt.Fprintln(a.in, name); err != nil {
		t.Fatalf("attacker process: %v\n%s", err, a.stderr)
	}
	var r advResult
	if err := json.Unmarshal([]byte(a.await(t, "ADV-RESULT ")), &r); err != nil {
		t.Fatalf("attacker process result: %v", err)
	}
	for _, e := range r.Errors {
		t.Errorf("%s: %s", name, e)
	}
	return r.Note
}

// TestAdversarialAttackerProcess is not a test of its own: it is the
// attacker process of TestAdversarial (advAttacker) and returns at once
// when run any other way.
func TestAdversarialAttackerProcess(t *testing.T) {
	data := os.Getenv("COMPASS_ADV_DATA")
	if data == "" {
		return
	}
	secret, err := hex.DecodeString(os.Getenv("COMPASS_ADV_SECRET"))
	if err != nil {
		t.Fatal(err)
	}
	attacks := map[string]advAttack{}
	for _, a := range advGeneratedAttacks() {
		attacks[a.name] = a
	}
	fmt.Println("ADV-READY")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var (
			mu  sync.Mutex
			res advResult
		)
		errorf := func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			res.Errors = append(res.Errors, fmt.Sprintf(format, args...))
		}
		if a, ok := attacks[sc.Text()]; ok {
			note := a.run(&advEnv{data: data, secret: secret, from: a.from, errorf: errorf})
			mu.Lock()
			res.Note = note
			mu.Unlock()
		} else {
			errorf("unknown attack %q", sc.Text())
		}
		mu.Lock()
		b, _ := json.Marshal(res)
		mu.Unlock()
		fmt.Printf("ADV-RESULT %s\n", b)
	}
}
