package client

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWriteInterruptedByContext(t *testing.T) {
	cEnd, sEnd := net.Pipe() // a write blocks until the other end reads
	defer sEnd.Close()
	c := newClient(cEnd, Options{}.withDefaults())
	go c.readLoop()
	defer c.Close()
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(testContext(t), 50*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}

	// Nothing written: the stream stays usable.
	if err := c.Ping(short()); err != context.DeadlineExceeded {
		t.Fatalf("Ping into a full pipe = %v, want DeadlineExceeded", err)
	}
	c.mu.Lock()
	n := len(c.pending)
	c.mu.Unlock()
	if n != 0 || c.werr != nil {
		t.Fatalf("after the timeout: %d pending, werr %v", n, c.werr)
	}

	// Waiting for another goroutine's write also ends with ctx.
	big := make([]byte, 1000)
	sent := make(chan error, 1)
	go func() { sent <- c.Send(big) }()
	time.Sleep(10 * time.Millisecond)
	if _, err := c.Join(short(), "g"); err != context.DeadlineExceeded {
		t.Fatalf("Join behind a blocked Send = %v, want DeadlineExceeded", err)
	}
	if _, err := io.ReadFull(sEnd, big); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("Send: %v", err)
	}

	// A write cut short leaves the stream unusable.
	go sEnd.Read(make([]byte, 5))
	if err := c.Ping(short()); err != context.DeadlineExceeded {
		t.Fatalf("Ping cut short = %v, want DeadlineExceeded", err)
	}
	if err := c.LocNoAck(Loc{}); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("LocNoAck after a partial write = %v", err)
	}
}

func TestLateReplyIsNotLost(t *testing.T) {
	s := newFakeServer(t)
	c, sc := dial(t, s, Options{User: "alice"})
	returned := 0
	for i := range 100 {
		// A reply racing the deadline is returned or queued, never dropped.
		ctx, cancel := context.WithTimeout(testContext(t), time.Duration(i%10)*50*time.Microsecond)
		err := c.Ping(ctx)
		cancel()
		switch err {
		case nil:
			returned++
		case context.DeadlineExceeded:
		default:
			t.Fatal(err)
		}
	}
	if err := c.Ping(testContext(t)); err != nil { // after every other reply
		t.Fatal(err)
	}
	sent, queued := len(sc.Requests()), len(c.Messages())
	if returned+queued+1 != sent {
		t.Errorf("%d pings sent, %d replies returned and %d queued", sent, returned+1, queued)
	}
}

func TestSlowConsumerClose(t *testing.T) {
	s := newFakeServer(t)
	c, sc := dial(t, s, Options{User: "alice", Inbox: 1})
	line := strings.Repeat(`{"type":"loc","group":"g","user":"bob","lat":1,"lng":2}`+"\n", 1000)
	written := make(chan error, 1)
	go func() {
		for {
			sc.SetWriteDeadline(time.Now().Add(wait))
			if _, err := io.WriteString(sc, line); err != nil {
				written <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // the reader is stuck on the full inbox
	select {
	case <-c.Done():
		t.Fatal("reader ended while the inbox was full")
	default:
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// The client closed with unread data, so the kernel reset the connection.
	if err := <-written; !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("server write after the client closed = %v", err)
	}
	if c.Err() != ErrClosed {
		t.Errorf("Err() = %v, want ErrClosed", c.Err())
	}
}
