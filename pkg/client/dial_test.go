package client

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestDialWelcome(t *testing.T) {
	s := newFakeServer(t)
	c, sc := dial(t, s, Options{User: "alice"})
	want := Welcome{Session: "s-alice", User: "alice", HeartbeatMS: 30000, MaxLine: 4096}
	if got := c.Welcome(); got != want {
		t.Errorf("Welcome() = %+v, want %+v", got, want)
	}
	wantFirst := preamble + `{"type":"hello","user":"alice"}` + "\n"
	if string(sc.first) != wantFirst {
		t.Errorf("first read = %q, want preamble and hello together: %q", sc.first, wantFirst)
	}
	if c.Err() != nil {
		t.Errorf("Err() before Done = %v", c.Err())
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Err(); err != ErrClosed {
		t.Errorf("Err() after Close = %v, want ErrClosed", err)
	}
	if _, ok := <-c.Messages(); ok {
		t.Error("Messages not closed after Close")
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.Ping(testContext(t)); err != ErrClosed {
		t.Errorf("Ping after Close = %v, want ErrClosed", err)
	}
	if err := c.LocNoAck(Loc{}); err != ErrClosed {
		t.Errorf("LocNoAck after Close = %v, want ErrClosed", err)
	}
}

func TestDialToken(t *testing.T) {
	s := newFakeServer(t)
	c, sc := dial(t, s, Options{User: "ignored", Token: "abc.def.ghi"})
	if sc.hello["token"] != "abc.def.ghi" || sc.hello["user"] != nil {
		t.Errorf("hello = %v, want the token and no user", sc.hello)
	}
	if c.Welcome().User != "tok-abc.def.ghi" {
		t.Errorf("Welcome = %+v", c.Welcome())
	}
}

// writeCounter counts the writes made on a connection.
type writeCounter struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeCounter) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, append([]byte(nil), b...))
	w.mu.Unlock()
	return w.Conn.Write(b)
}

func TestHandshakeIsOneWrite(t *testing.T) {
	s := newFakeServer(t)
	ctx := testContext(t)
	conn, err := RawDial(ctx, s.Addr(), "")
	if err != nil {
		t.Fatal(err)
	}
	wc := &writeCounter{Conn: conn}
	c, err := handshake(ctx, wc, Options{User: `q"u\o` + "\x01"}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	go c.readLoop()
	defer c.Close()
	want := preamble + `{"type":"hello","user":"q\"u\\o\u0001"}` + "\n"
	if len(wc.writes) != 1 || string(wc.writes[0]) != want {
		t.Errorf("writes = %q, want exactly one: %q", wc.writes, want)
	}
	if sc := serverSide(t, s); sc.hello["user"] != `q"u\o`+"\x01" {
		t.Errorf("server read user %q", sc.hello["user"])
	}
}

func TestDialErrors(t *testing.T) {
	s := newFakeServer(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		o    Options
		is   error
	}{
		{"unauthorized user", nil, Options{User: "nobody"}, &ServerError{Code: "unauthorized"}},
		{"unauthorized token", nil, Options{Token: "bad"}, &ServerError{Code: "unauthorized"}},
		{"closed without reply", nil, Options{User: "hangup"}, io.EOF},
		{"handshake timeout", nil, Options{User: "silent", Timeout: 100 * time.Millisecond}, context.DeadlineExceeded},
		{"cancelled", cancelled, Options{User: "alice"}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = testContext(t)
			}
			c, err := Dial(ctx, s.Addr(), tc.o)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("Dial error = %v, want one matching %v", err, tc.is)
			}
		})
	}
	t.Run("ServerError fields", func(t *testing.T) {
		_, err := Dial(testContext(t), s.Addr(), Options{User: "nobody"})
		var se *ServerError
		if !errors.As(err, &se) || *se != (ServerError{Code: "unauthorized", Msg: "bad token"}) {
			t.Errorf("Dial error = %#v, want *ServerError{unauthorized, bad token}", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		if _, err := Dial(testContext(t), addr, Options{User: "alice"}); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("Dial error = %v, want ECONNREFUSED", err)
		}
	})
}

func TestLocalAddr(t *testing.T) {
	s := newFakeServer(t)
	c, err := Dial(testContext(t), s.Addr(), Options{User: "alice", LocalAddr: "127.0.0.2"})
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2 here: %v", err)
	}
	defer c.Close()
	sc := serverSide(t, s)
	if ip := c.LocalAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.2" {
		t.Errorf("LocalAddr() = %v", c.LocalAddr())
	}
	if ip := sc.RemoteAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.2" {
		t.Errorf("server sees %v", sc.RemoteAddr())
	}
	if _, err := Dial(testContext(t), s.Addr(), Options{User: "alice", LocalAddr: "not an address"}); err == nil {
		t.Error("Dial from a bad LocalAddr succeeded")
	}
}

func TestRawDialAndSend(t *testing.T) {
	s := newFakeServer(t)
	conn, err := RawDial(testContext(t), s.Addr(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A raw connection can speak the handshake itself, split anywhere.
	for _, part := range []string{"U-Com", "pass/1\n{\"type\":\"hel", "lo\",\"user\":\"raw\"}\n"} {
		conn.Write([]byte(part))
		time.Sleep(10 * time.Millisecond)
	}
	if sc := serverSide(t, s); sc.hello["user"] != "raw" {
		t.Errorf("hello = %v", sc.hello)
	}

	c, sc := dial(t, s, Options{User: "alice"})
	if err := c.Send([]byte("junk\n")); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, c); m.Code != "unknown_type" {
		t.Errorf("reply to junk = %s", m.Raw)
	}
	if r := sc.Requests(); len(r) != 1 || r[0]["junk"] != "junk\n" {
		t.Errorf("server got %v", r)
	}
}
