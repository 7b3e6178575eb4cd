//go:build e2e

package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/client"
)

// The adversarial suite: the BUILT compassd, legit clients exchanging
// locations the whole time, and one attack after another on its data port
// (real tools from Debian packages, then generated attacks). Only
// 127.0.0.1 is ever targeted. Legit clients and the tools connect from
// 127.0.0.1 (allowlisted from automatic bans); generated attacks come from
// 127.0.0.2 and up, one source address per attack, all inside the
// allowlist 127.0.0.0/25 except the attacker that shows the automatic ban
// (127.0.0.200).
const (
	advHandshakeTimeout = 2 * time.Second
	advAutobanThreshold = 20
	advAutobanAllow     = "127.0.0.0/25"
	advTrustedProxy     = "127.0.0.12" // for the malformed-PROXY attack
	advBaseline         = 5 * time.Second
	advNice             = "10" // attackers' niceness (advTool, advAttacker)

	advGroups    = 4
	advPerGroup  = 5
	advLocPeriod = 200 * time.Millisecond // 5 loc/s per client, half the default rate limit
)

// TestAdversarial: while the attacks run, the process stays up, no legit
// delivery is lost, legit delivery p99 stays within max(3x its baseline,
// 50ms), every attack connection is counted in a sniffer class (the admin
// API's GetSnifferStats) or refused at accept with a reason, the automatic
// ban catches its attacker, and open fds and goroutines return to their
// baseline once the timeouts have passed while RSS stays bounded.
func TestAdversarial(t *testing.T) {
	advRequireTools(t)
	srv := advStart(t)
	adm := advDialAdmin(t, srv)
	atk := advStartAttacker(t, srv)
	legit := advStartLegit(t, srv)

	time.Sleep(advBaseline)
	adm.classes(t) // the admin connection is part of the baseline
	base := advResources(t, srv)
	baseP99, baseN := legit.p99(legit.t0, time.Now())
	t.Logf("baseline: %d deliveries, p99 %v; fds %d, goroutines %d, rss %d KiB", baseN, baseP99, base.fds, base.goroutines, base.rssKiB)

	rss := advWatchRSS(srv.pid)
	attackStart := time.Now()
	var rows []advRow
	for _, a := range advAttacks() {
		from := time.Now()
		row := advRun(t, srv, adm, atk, a)
		row.p99, row.samples = legit.p99(from, time.Now())
		rows = append(rows, row)
		if !srv.advAlive() {
			t.Fatalf("compassd died during %s", a.name)
		}
	}
	attackEnd := time.Now()
	peakRSS := rss.stop()

	legit.stop(t)
	atkP99, atkN := legit.p99(attackStart, attackEnd)
	// The bound is explicit in the issue: 3x the quiet p99. A quiet
	// loopback p99 is a millisecond or two, so 3x of it is below what the
	// scheduler of a 2-CPU test machine (running the attack tools, the
	// race-instrumented test and compassd at once) can promise; 50 ms is
	// the floor: far below what a user would notice (the loc period is 200
	// ms), far above scheduling noise.
	limit := max(3*baseP99, 50*time.Millisecond)
	t.Logf("during the attacks: %d deliveries, p99 %v (limit %v)", atkN, atkP99, limit)
	if atkN < 1000 {
		t.Errorf("only %d deliveries measured during the attacks", atkN)
	}
	if atkP99 > limit {
		t.Errorf("legit delivery p99 during the attacks %v > max(3 x %v, 50ms)", atkP99, baseP99)
	}
	after := advCheckRecovered(t, srv, base, peakRSS) // the legit sessions still open, as at the baseline
	expected, lost := legit.closeAndCheck(t)
	advReport(t, rows, []string{
		fmt.Sprintf("legit deliveries: %d expected, %d lost; p99 %v before, %v during the attacks (limit %v)",
			expected, lost, baseP99.Round(10*time.Microsecond), atkP99.Round(10*time.Microsecond), limit),
		fmt.Sprintf("compassd: open fds %d before, %d after; goroutines %d before, %d after; RSS %d MiB before, %d MiB peak",
			base.fds, after.fds, base.goroutines, after.goroutines, base.rssKiB>>10, peakRSS>>10),
	})
}

// advRequireTools fails (never skips) when an attack tool is missing.
func advRequireTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"nmap", "curl", "wrk", "openssl", "ssh-keyscan", "nice"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required by the adversarial suite and is not installed: "+
				"apt-get install -y nmap curl wrk openssl openssh-client (%v)", tool, err)
		}
	}
}

// advAdmin reads the control plane's view of the sniffer and the bans.
type advAdmin struct {
	c   adminv1.AdminServiceClient
	ctx context.Context
}

func advDialAdmin(t *testing.T, srv *compassd) *advAdmin {
	t.Helper()
	conn, err := grpc.NewClient(srv.admin, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+srv.token)
	return &advAdmin{c: adminv1.NewAdminServiceClient(conn), ctx: ctx}
}

// classes returns GetSnifferStats' count of every class.
func (a *advAdmin) classes(t *testing.T) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(a.ctx, 5*time.Second)
	defer cancel()
	resp, err := a.c.GetSnifferStats(ctx, &adminv1.GetSnifferStatsRequest{})
	if err != nil {
		t.Fatalf("GetSnifferStats: %v", err)
	}
	out := map[string]float64{}
	for _, c := range resp.GetCounts() {
		out[c.GetClass()] = float64(c.GetCount())
	}
	return out
}

func (a *advAdmin) bans(t *testing.T) []*adminv1.Ban {
	t.Helper()
	ctx, cancel := context.WithTimeout(a.ctx, 5*time.Second)
	defer cancel()
	resp, err := a.c.ListBans(ctx, &adminv1.ListBansRequest{})
	if err != nil {
		t.Fatalf("ListBans: %v", err)
	}
	return resp.GetBans()
}

// advScrape returns every compass_ and go_ sample of /metrics by its full
// series name ("name{label=\"v\"}").
func advScrape(t *testing.T, httpAddr string) map[string]float64 {
	t.Helper()
	res, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return out
}

func advClosed(reason string) string {
	return `compass_connections_closed_total{reason="` + reason + `"}`
}

// advRefusals are the close reasons of connections refused at accept,
// before the sniffer saw a byte.
var advRefusals = []string{"banned_at_accept", "accept_rate", "max_buffered", "max_conns", "max_conns_per_ip"}

// advResourceSample is what the process holds at one moment.
type advResourceSample struct {
	fds, goroutines int
	rssKiB          int64
}

func advResources(t *testing.T, srv *compassd) advResourceSample {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(srv.pid), "fd"))
	if err != nil {
		t.Fatalf("open fds of compassd: %v", err)
	}
	return advResourceSample{fds: len(ents), goroutines: int(advScrape(t, srv.http)["go_goroutines"]),
		rssKiB: advRSS(srv.pid)}
}

var advVmRSS = regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`)

func advRSS(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	m := advVmRSS.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// advRSSWatch samples VmRSS every 100 ms and keeps the peak.
type advRSSWatch struct {
	stopc chan struct{}
	peak  chan int64
}

func advWatchRSS(pid int) *advRSSWatch {
	w := &advRSSWatch{stopc: make(chan struct{}), peak: make(chan int64, 1)}
	go func() {
		var peak int64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, advRSS(pid))
			select {
			case <-w.stopc:
				w.peak <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *advRSSWatch) stop() int64 {
	close(w.stopc)
	return <-w.peak
}

// advCheckRecovered waits for the attack connections' timeouts to pass and
// checks that fds and goroutines are back to their baseline and that RSS
// stayed bounded. Slack: a few fds and goroutines for the scrape and admin
// connections and the runtime's own helpers.
func advCheckRecovered(t *testing.T, srv *compassd, base advResourceSample, peakRSS int64) advResourceSample {
	t.Helper()
	var now advResourceSample
	deadline := time.Now().Add(advHandshakeTimeout + 10*time.Second)
	for {
		now = advResources(t, srv)
		if now.fds <= base.fds+2 && now.goroutines <= base.goroutines+5 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("not back to baseline: fds %d (baseline %d), goroutines %d (baseline %d)",
				now.fds, base.fds, now.goroutines, base.goroutines)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("after the attacks: fds %d, goroutines %d, rss %d KiB (peak %d KiB)", now.fds, now.goroutines, now.rssKiB, peakRSS)
	// Bounded: the attacks hold at most a few hundred connections at once,
	// each with at most a --max-line partial line and a sniff head, and the
	// floods are closed at once; 64 MiB above the baseline would mean
	// something buffers without limit.
	if limit := base.rssKiB + 64<<10; peakRSS > limit {
		t.Errorf("peak RSS %d KiB > baseline %d KiB + 64 MiB", peakRSS, base.rssKiB)
	}
	return now
}

// advRow is one line of the summary table.
type advRow struct {
	attack  string
	conns   int    // connections the server accepted for it
	counted string // sniffer classes and accept refusals, as counted
	result  string
	p99     time.Duration // legit delivery p99 of the locs sent meanwhile
	samples int           // how many locs that p99 is of
}

// p99 is the row's legit p99, "-" when too few locs were sent meanwhile.
func (r advRow) p99String() string {
	if r.samples < 100 {
		return "-"
	}
	return r.p99.Round(100 * time.Microsecond).String()
}

func advReport(t *testing.T, rows []advRow, footer []string) {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "attack\tconns\tclass counted\tlegit p99\tresult")
	fmt.Fprintln(w, "------\t-----\t-------------\t---------\t------")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", r.attack, r.conns, r.counted, r.p99String(), r.result)
	}
	w.Flush()
	for _, l := range footer {
		b.WriteString(l + "\n")
	}
	t.Log("adversarial summary\n" + b.String())
	if path := os.Getenv("COMPASS_ADV_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Errorf("COMPASS_ADV_REPORT: %v", err)
		}
	}
}

// advFormat prints the non-zero counts of m, largest first.
func advFormat(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return int(m[b] - m[a])
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, int(m[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// advLegit is the legit traffic: advGroups groups of advPerGroup clients,
// each publishing a loc every advLocPeriod; acc carries the send time in
// microseconds since t0 (any acc >= 0 is valid), so each receiver measures
// send-to-receive latency with microsecond resolution (ts and sts have
// only milliseconds) and checks per-sender order.
type advLegit struct {
	t0      time.Time
	clients []*advClient
	stopc   chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples []advSample
}

type advSample struct {
	sent time.Time
	lat  time.Duration
}

type advClient struct {
	user, group string
	c           *client.Client
	sent        int   // the sender's; read after it ended
	sendErr     error // the sender's; read after it ended
	received    atomic.Int64
	readErrs    []string      // the reader's; read after done
	done        chan struct{} // the reader ended
}

func advStartLegit(t *testing.T, srv *compassd) *advLegit {
	t.Helper()
	l := &advLegit{t0: time.Now(), stopc: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for g := range advGroups {
		for m := range advPerGroup {
			ac := &advClient{user: fmt.Sprintf("legit-%d-%d", g, m), group: fmt.Sprintf("adv-%d", g), done: make(chan struct{})}
			c, err := client.Dial(ctx, srv.data, client.Options{Token: srv.advToken(t, ac.user, ac.group)})
			if err != nil {
				t.Fatalf("legit dial: %v", err)
			}
			if _, err := c.Join(ctx, ac.group); err != nil {
				t.Fatalf("legit join: %v", err)
			}
			ac.c = c
			l.clients = append(l.clients, ac)
		}
	}
	t.Cleanup(func() {
		for _, ac := range l.clients {
			ac.c.Close()
		}
	})
	for _, ac := range l.clients {
		go l.read(ac)
		l.wg.Go(func() { l.send(ac) })
	}
	return l
}

func (l *advLegit) send(ac *advClient) {
	tick := time.NewTicker(advLocPeriod)
	defer tick.Stop()
	for {
		select {
		case <-l.stopc:
			return
		case <-tick.C:
		}
		acc := float64(time.Since(l.t0).Microseconds())
		if err := ac.c.LocNoAck(client.Loc{Lat: 37.5, Lng: 127, Acc: &acc}); err != nil {
			ac.sendErr = err
			return
		}
		ac.sent++
	}
}

// read counts ac's deliveries and their latency until its connection ends.
func (l *advLegit) read(ac *advClient) {
	defer close(ac.done)
	last := map[string]float64{}
	for m := range ac.c.Messages() {
		now := time.Now()
		switch m.Type {
		case "loc":
			if m.Acc == nil {
				ac.readErrs = append(ac.readErrs, "loc without acc: "+string(m.Raw))
				continue
			}
			if *m.Acc <= last[m.User] {
				ac.readErrs = append(ac.readErrs, fmt.Sprintf("out of order from %s: %v after %v", m.User, *m.Acc, last[m.User]))
			}
			last[m.User] = *m.Acc
			sent := l.t0.Add(time.Duration(*m.Acc) * time.Microsecond)
			l.mu.Lock()
			l.samples = append(l.samples, advSample{sent: sent, lat: now.Sub(sent)})
			l.mu.Unlock()
			ac.received.Add(1)
		case "presence":
		default:
			ac.readErrs = append(ac.readErrs, "unexpected message: "+string(m.Raw))
		}
	}
}

// stop stops the senders and waits (bounded) for the last deliveries.
func (l *advLegit) stop(t *testing.T) {
	t.Helper()
	close(l.stopc)
	l.wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for r, n := range l.want() {
		for int(r.received.Load()) < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// want is how many locs each client must have received: every loc the
// other members of its group sent.
func (l *advLegit) want() map[*advClient]int {
	want := map[*advClient]int{}
	for _, r := range l.clients {
		want[r] += 0
		for _, s := range l.clients {
			if s != r && s.group == r.group {
				want[r] += s.sent
			}
		}
	}
	return want
}

// closeAndCheck checks that no legit session was closed by the server and
// that every receiver got every loc meant for it, in order, then closes
// the clients.
func (l *advLegit) closeAndCheck(t *testing.T) (expected, lost int) {
	t.Helper()
	want := l.want()
	total, lost := 0, 0
	for _, ac := range l.clients {
		select {
		case <-ac.done:
			t.Errorf("legit session %s ended: %v", ac.user, ac.c.Err())
		default:
		}
		if ac.sendErr != nil {
			t.Errorf("%s: send: %v", ac.user, ac.sendErr)
		}
		ac.c.Close() // ends the reader
		<-ac.done
		got := int(ac.received.Load())
		total += want[ac]
		lost += max(0, want[ac]-got)
		if got != want[ac] {
			t.Errorf("%s received %d locs, want %d", ac.user, got, want[ac])
		}
		for _, e := range ac.readErrs {
			t.Errorf("%s: %s", ac.user, e)
		}
	}
	return total, lost
}

// p99 is the 99th percentile of the latency of the locs sent in [from, to).
func (l *advLegit) p99(from, to time.Time) (time.Duration, int) {
	l.mu.Lock()
	var lats []time.Duration
	for _, s := range l.samples {
		if !s.sent.Before(from) && s.sent.Before(to) {
			lats = append(lats, s.lat)
		}
	}
	l.mu.Unlock()
	if len(lats) == 0 {
		return 0, 0
	}
	slices.Sort(lats)
	return lats[int(math.Ceil(0.99*float64(len(lats))))-1], len(lats)
}

// advStart runs the built compassd (startCompassd of e2e_main_test.go:
// authenticated clients and admin API, SIGTERM and exit 0 checked at the
// end) configured for the suite: a short handshake deadline, the allowlist
// that spares the legit clients and the tools, a trusted proxy address for
// the malformed-PROXY attack.
func advStart(t *testing.T) *compassd {
	t.Helper()
	return startCompassd(t, "--handshake-timeout", advHandshakeTimeout.String(),
		"--autoban-threshold", strconv.Itoa(advAutobanThreshold), "--autoban-allow", advAutobanAllow,
		"--trusted-proxies", advTrustedProxy)
}

func advPort(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func (c *compassd) advAlive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// advToken signs a client token for user with groups, with the key the
// process verifies with.
func (c *compassd) advToken(t *testing.T, user string, groups ...string) string {
	t.Helper()
	tok, err := auth.SignHS256(c.secret, user, groups, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
