package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const wait = 5 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, s *fakeServer, o Options) (*Client, *serverConn) {
	t.Helper()
	c, err := Dial(testContext(t), s.Addr(), o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, serverSide(t, s)
}

func serverSide(t *testing.T, s *fakeServer) *serverConn {
	t.Helper()
	select {
	case sc := <-s.conns:
		return sc
	case <-time.After(wait):
		t.Fatal("no connection reached the fake server")
		return nil
	}
}

func recv(t *testing.T, c *Client) Message {
	t.Helper()
	select {
	case m, ok := <-c.Messages():
		if !ok {
			t.Fatalf("Messages closed; Err = %v", c.Err())
		}
		return m
	case <-time.After(wait):
		t.Fatal("no message")
		return Message{}
	}
}

func waitDone(t *testing.T, c *Client) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(wait):
		t.Fatal("reader did not end")
		return nil
	}
}

func TestRequests(t *testing.T) {
	s := newFakeServer(t)
	c, sc := dial(t, s, Options{User: "alice"})
	ctx := testContext(t)

	m, err := c.Join(ctx, "g1")
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if m.Type != "joined" || m.Group != "g1" || len(m.Members) != 2 {
		t.Fatalf("Join reply = %s", m.Raw)
	}
	bob, carol := m.Members[0], m.Members[1]
	if bob.User != "bob" || *bob.Lat != 37.55 || *bob.Lng != 126.99 || *bob.Acc != 5 || *bob.TS != 1732400000000 || *bob.STS != 1732400000123 {
		t.Errorf("bob = %+v", bob)
	}
	if carol.User != "carol" || carol.Lat != nil || carol.TS != nil {
		t.Errorf("carol, who never published, = %+v", carol)
	}

	m, err = c.Join(ctx, "forbidden")
	if !errors.Is(err, &ServerError{Code: "forbidden"}) || m.Type != "error" || m.Code != "forbidden" {
		t.Errorf("Join(forbidden) = %s, %v", m.Raw, err)
	}
	if m, err := c.Leave(ctx, "g1"); err != nil || m.Type != "left" || m.Group != "g1" {
		t.Errorf("Leave = %s, %v", m.Raw, err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := c.Loc(ctx, Loc{Lat: 37.5, Lng: -127.25, Acc: new(3.5), TS: new(int64(1732400000000))}); err != nil {
		t.Errorf("Loc: %v", err)
	}
	var se *ServerError
	if err := c.Loc(ctx, Loc{Lat: 91}); !errors.As(err, &se) || se.Code != "invalid_location" {
		t.Errorf("Loc(lat 91) = %v, want invalid_location", err)
	}
	if err := c.LocNoAck(Loc{Lat: 1e-7, Lng: 0}); err != nil {
		t.Errorf("LocNoAck: %v", err)
	}
	for _, bad := range []Loc{{Lat: math.NaN()}, {Lng: math.Inf(1)}, {Acc: new(math.NaN())}} {
		if err := c.LocNoAck(bad); err != ErrNotFinite {
			t.Errorf("LocNoAck(%v) = %v, want ErrNotFinite", bad, err)
		}
	}
	if err := c.Ping(ctx); err != nil { // everything before it has arrived
		t.Errorf("Ping: %v", err)
	}

	want := []string{
		`{"group":"g1","id":1,"type":"join"}`,
		`{"group":"forbidden","id":2,"type":"join"}`,
		`{"group":"g1","id":3,"type":"leave"}`,
		`{"id":4,"type":"ping"}`,
		`{"acc":3.5,"id":5,"lat":37.5,"lng":-127.25,"ts":1732400000000,"type":"loc"}`,
		`{"id":6,"lat":91,"lng":0,"type":"loc"}`,
		`{"lat":1e-7,"lng":0,"type":"loc"}`,
		`{"id":7,"type":"ping"}`,
	}
	got := sc.Requests()
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			b, _ := json.Marshal(got[i])
			g = string(b)
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("request %d = %s, want %s", i, g, w)
		}
	}
	select {
	case m := <-c.Messages():
		t.Errorf("unexpected message %s", m.Raw)
	default:
	}
}

func TestWrongReplyType(t *testing.T) {
	s := newFakeServer(t)
	c, sc := dial(t, s, Options{User: "alice"})
	ctx := testContext(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Join(ctx, "never")
		errc <- err
	}()
	waitRequests(t, sc, 1)
	sc.send(`{"type":"pong","id":1}`)
	if err := <-errc; !errors.Is(err, ErrProtocol) {
		t.Errorf("Join answered by pong = %v, want ErrProtocol", err)
	}
}

func waitRequests(t *testing.T, sc *serverConn, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for len(sc.Requests()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("server got %d requests, want %d", len(sc.Requests()), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrentRequests(t *testing.T) {
	s := newFakeServer(t)
	s.shuffle = true
	c, sc := dial(t, s, Options{User: "alice"})
	ctx := testContext(t)

	const workers, each = 32, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				errs <- oneRequest(ctx, c, w, i)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	// Every push was written before the replies of its batch, so all are
	// queued by now, in order.
	pushes := sc.pushes.Load()
	if got := int64(len(c.Messages())); got != pushes {
		t.Fatalf("%d messages queued, server pushed %d", got, pushes)
	}
	for i := range pushes {
		m := recv(t, c)
		if m.Type != "loc" || *m.TS != i+1 {
			t.Fatalf("push %d = %s", i+1, m.Raw)
		}
	}
	ids := map[string]bool{}
	for _, r := range sc.Requests() {
		id := fmt.Sprint(r["id"])
		if ids[id] {
			t.Errorf("id %s sent twice", id)
		}
		ids[id] = true
	}
	if len(ids) != workers*each {
		t.Errorf("%d distinct ids, want %d", len(ids), workers*each)
	}
}

// oneRequest makes request i of worker w, one of join, loc and ping, and
// checks that the reply is its own.
func oneRequest(ctx context.Context, c *Client, w, i int) error {
	switch i % 3 {
	case 0:
		group := fmt.Sprintf("g-%d-%d", w, i)
		m, err := c.Join(ctx, group)
		if err != nil || m.Group != group {
			return fmt.Errorf("Join(%s) = %s, %v", group, m.Raw, err)
		}
	case 1:
		lat := 90 + float64(i%2) // every other one out of range
		err := c.Loc(ctx, Loc{Lat: lat})
		if lat > 90 && !errors.Is(err, &ServerError{Code: "invalid_location"}) || lat <= 90 && err != nil {
			return fmt.Errorf("Loc(lat %v) = %v", lat, err)
		}
	default:
		if err := c.Ping(ctx); err != nil {
			return fmt.Errorf("Ping: %v", err)
		}
	}
	return nil
}

func TestContextCancel(t *testing.T) {
	s := newFakeServer(t)
	c, sc := dial(t, s, Options{User: "alice"})

	ctx, cancel := context.WithTimeout(testContext(t), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Join(ctx, "never"); err != context.DeadlineExceeded {
		t.Fatalf("Join(never) = %v, want DeadlineExceeded", err)
	}
	c.mu.Lock()
	n := len(c.pending)
	c.mu.Unlock()
	if n != 0 {
		t.Errorf("%d pending requests left after cancellation", n)
	}

	// A reply arriving after all goes to Messages.
	sc.send(`{"type":"joined","group":"never","id":1,"members":[]}`)
	if m := recv(t, c); m.Type != "joined" || string(m.ID) != "1" {
		t.Errorf("late reply = %s", m.Raw)
	}

	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := c.Ping(cancelled); err != context.Canceled {
		t.Errorf("Ping(cancelled) = %v, want Canceled", err)
	}
	if err := c.Ping(testContext(t)); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if got := len(sc.Requests()); got != 2 {
		t.Errorf("server got %d requests, want 2 (nothing for the cancelled ping)", got)
	}
}

func TestPushesInOrderThenEOF(t *testing.T) {
	s := newFakeServer(t)
	c, sc := dial(t, s, Options{User: "alice"})

	var lines []string
	for i := range 500 {
		lines = append(lines, fmt.Sprintf(`{"type":"loc","group":"g1","user":"bob","lat":37.55,"lng":126.99,"acc":5,"ts":%d,"sts":%d}`, i, i+1))
	}
	lines = append(lines,
		`{"type":"presence","group":"g1","user":"bob","state":"offline"}`,
		``, "\r", // ignored
		`{"type":"error","code":"rate_limited","msg":"slow down"}`+"\r",
		`{"type":"bye","reason":"kicked","msg":"by operator","retry_after_ms":60000}`)
	go func() {
		sc.send(strings.Join(lines, "\n"))
		sc.Close()
	}()

	for i := range 500 {
		m := recv(t, c)
		if m.Type != "loc" || m.Group != "g1" || m.User != "bob" || *m.TS != int64(i) || *m.STS != int64(i+1) || *m.Acc != 5 {
			t.Fatalf("push %d = %+v", i, m)
		}
		if string(m.Raw) != lines[i] {
			t.Fatalf("Raw = %q, want %q", m.Raw, lines[i])
		}
	}
	if m := recv(t, c); m.Type != "presence" || m.State != "offline" {
		t.Errorf("presence = %s", m.Raw)
	}
	if m := recv(t, c); m.Type != "error" || m.Code != "rate_limited" || m.ID != nil {
		t.Errorf("error = %s", m.Raw)
	}
	if m := recv(t, c); m.Type != "bye" || m.Reason != "kicked" || m.Msg != "by operator" || *m.RetryAfterMS != 60000 {
		t.Errorf("bye = %s", m.Raw)
	}
	if m, ok := <-c.Messages(); ok {
		t.Errorf("Messages not closed, got %s", m.Raw)
	}
	if err := waitDone(t, c); err != io.EOF {
		t.Errorf("Err() = %v, want io.EOF", err)
	}
	if err := c.Ping(testContext(t)); !errors.Is(err, io.EOF) {
		t.Errorf("Ping after EOF = %v, want io.EOF", err)
	}
}

func TestPendingRequestFailsOnClose(t *testing.T) {
	s := newFakeServer(t)
	c, sc := dial(t, s, Options{User: "alice"})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Join(testContext(t), "never")
		errc <- err
	}()
	waitRequests(t, sc, 1)
	sc.Close()
	if err := <-errc; !errors.Is(err, io.EOF) {
		t.Errorf("Join when the server closed = %v, want io.EOF", err)
	}
}

func TestReaderErrors(t *testing.T) {
	long := `{"type":"loc","user":"` + strings.Repeat("x", 20<<10) + `"}`
	for _, tc := range []struct {
		name  string
		o     Options
		lines string // sent raw; then the server closes
		got   int    // messages before the reader ends
		err   error
	}{
		{"long line within limit", Options{}, long + "\n", 1, io.EOF},
		{"line over limit", Options{}, strings.Repeat("x", DefaultReadLimit) + "\n", 0, ErrLineTooLong},
		{"line over ReadLimit", Options{ReadLimit: 100}, `{"type":"ping"}` + "\n" + long + "\n", 1, ErrLineTooLong},
		{"not json", Options{}, "not json\n", 0, ErrProtocol},
		{"no type", Options{}, `{"group":"g"}` + "\n", 0, ErrProtocol},
		{"ill-typed field", Options{}, `{"type":"loc","lat":"north"}` + "\n", 0, ErrProtocol},
		{"EOF mid-line", Options{}, `{"type":"pong"}` + "\n" + `{"type":`, 1, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t)
			tc.o.User = "alice"
			c, sc := dial(t, s, tc.o)
			sc.wmu.Lock()
			io.WriteString(sc, tc.lines)
			sc.wmu.Unlock()
			sc.Close()
			err := waitDone(t, c)
			if !errors.Is(err, tc.err) {
				t.Errorf("Err() = %v, want %v", err, tc.err)
			}
			if n := len(c.Messages()); n != tc.got {
				t.Errorf("%d messages, want %d", n, tc.got)
			}
		})
	}
}

func TestCloseRST(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close func(*Client) error
		want  error
	}{
		{"Close", (*Client).Close, io.EOF},
		{"CloseRST", (*Client).CloseRST, syscall.ECONNRESET},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t)
			s.manual = true
			c, sc := dial(t, s, Options{User: "alice"})
			if err := tc.close(c); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			sc.SetReadDeadline(time.Now().Add(wait))
			_, err := sc.br.ReadByte()
			if !errors.Is(err, tc.want) {
				t.Errorf("server read after %s = %v, want %v", tc.name, err, tc.want)
			}
			if c.Err() != ErrClosed {
				t.Errorf("Err() = %v, want ErrClosed", c.Err())
			}
		})
	}
}

func TestServerErrorIs(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &ServerError{Code: "forbidden", Msg: "x"})
	if !errors.Is(err, &ServerError{Code: "forbidden"}) || errors.Is(err, &ServerError{Code: "not_joined"}) {
		t.Error("errors.Is does not match on Code")
	}
	if got := (&ServerError{Code: "c", Msg: "m"}).Error(); got != "client: server error c: m" {
		t.Errorf("Error() = %q", got)
	}
}
