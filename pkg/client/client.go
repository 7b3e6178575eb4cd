package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const (
	preamble = "U-Compass/1\n"

	// DefaultTimeout bounds dial plus handshake when Options.Timeout is 0.
	DefaultTimeout = 5 * time.Second
	// DefaultInbox is the capacity of Messages when Options.Inbox is 0.
	DefaultInbox = 1024
	// DefaultReadLimit is the longest line accepted from the server,
	// terminator included, when Options.ReadLimit is 0.
	DefaultReadLimit = 64 << 10

	readBufSize = 4 << 10
)

// aLongTimeAgo is a deadline in the past, used to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// Options configure Dial. The zero value is valid for a development-mode
// server, except that it says hello as the empty user.
type Options struct {
	User      string        // dev mode: hello {"user":...}
	Token     string        // JWT: hello {"token":...} (used when non-empty)
	LocalAddr string        // optional source IP ("127.0.0.2") or IP:port
	Timeout   time.Duration // dial + handshake timeout (default 5s)
	Inbox     int           // capacity of the Messages channel (default 1024)
	ReadLimit int           // longest line read, "\n" included (default 64 KiB)
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Inbox <= 0 {
		o.Inbox = DefaultInbox
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = DefaultReadLimit
	}
	return o
}

// Client is one session. See the package comment for its concurrency
// contract.
type Client struct {
	conn    net.Conn
	br      *bufio.Reader
	long    []byte // assembles lines longer than br's buffer; reader only
	limit   int
	welcome Welcome

	// wlock is held to write and to allocate ids; taken before mu. It is a
	// one-slot semaphore rather than a sync.Mutex so that a request can stop
	// waiting for it when its context ends.
	wlock  chan struct{}
	wbuf   []byte
	nextID int64
	werr   error // sticky once the outgoing stream is unusable

	mu      sync.Mutex
	pending map[int64]chan Message // nil once the reader has ended
	err     error                  // why the reader ended

	ended     atomic.Bool // set, after err, when the reader ends
	inbox     chan Message
	closing   chan struct{}
	closeOnce sync.Once
	done      chan struct{}
}

// Dial connects to addr, sends the preamble and hello in one write and
// waits for welcome, all within o.Timeout and ctx. An error reply is
// returned as a *ServerError; a close without reply as an error wrapping
// io.EOF; an expired timeout or cancelled ctx as an error wrapping
// ctx.Err().
func Dial(ctx context.Context, addr string, o Options) (*Client, error) {
	o = o.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	conn, err := RawDial(ctx, addr, o.LocalAddr)
	if err != nil {
		return nil, err
	}
	c, err := handshake(ctx, conn, o)
	if err != nil {
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

// RawDial dials addr over TCP, from localAddr when it is not empty (an IP,
// or IP:port), and returns the connection without sending anything.
func RawDial(ctx context.Context, addr, localAddr string) (net.Conn, error) {
	var d net.Dialer
	if localAddr != "" {
		la, err := resolveLocal(localAddr)
		if err != nil {
			return nil, fmt.Errorf("client: local address %q: %w", localAddr, err)
		}
		d.LocalAddr = la
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return conn, nil
}

func resolveLocal(s string) (*net.TCPAddr, error) {
	if ip := net.ParseIP(s); ip != nil {
		return &net.TCPAddr{IP: ip}, nil
	}
	return net.ResolveTCPAddr("tcp", s)
}

func newClient(conn net.Conn, o Options) *Client {
	return &Client{
		conn:    conn,
		br:      bufio.NewReaderSize(conn, readBufSize),
		limit:   o.ReadLimit,
		wlock:   make(chan struct{}, 1),
		pending: make(map[int64]chan Message),
		inbox:   make(chan Message, o.Inbox),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// handshake greets the server on conn and returns a client whose reader is
// not started yet. It closes conn on failure.
func handshake(ctx context.Context, conn net.Conn, o Options) (*Client, error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	c := newClient(conn, o)
	w, err := c.greet(o)
	if !stop() && err == nil {
		err = ctx.Err() // the deadline may already be poisoned
	}
	if err != nil {
		conn.Close()
		return nil, handshakeError(ctx, err)
	}
	c.welcome = w
	return c, nil
}

func handshakeError(ctx context.Context, err error) error {
	var se *ServerError
	if errors.As(err, &se) {
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil && (err == ctxErr || errors.Is(err, os.ErrDeadlineExceeded)) {
		err = ctxErr
	}
	return fmt.Errorf("client: handshake: %w", err)
}

func (c *Client) greet(o Options) (Welcome, error) {
	if _, err := c.conn.Write(appendHello([]byte(preamble), o)); err != nil {
		return Welcome{}, err
	}
	for {
		line, err := c.readLine()
		if err != nil {
			return Welcome{}, err
		}
		if isBlank(line) {
			continue
		}
		m, err := decode(line)
		if err != nil {
			return Welcome{}, err
		}
		switch m.Type {
		case "welcome":
			return Welcome{Session: m.Session, User: m.User, HeartbeatMS: m.HeartbeatMS, MaxLine: m.MaxLine}, nil
		case "error":
			return Welcome{}, &ServerError{Code: m.Code, Msg: m.Msg}
		}
		return Welcome{}, fmt.Errorf("%w: %s before welcome", ErrProtocol, excerpt(m.Raw))
	}
}

// Welcome returns the server's welcome.
func (c *Client) Welcome() Welcome { return c.welcome }

// Messages returns the channel of every server message that is not the
// reply to a pending request: loc, presence, bye, errors without an id or
// with an id no request waits for (one whose request was cancelled, say).
// It is closed when the reader ends. While it is full the reader blocks;
// see the package comment.
func (c *Client) Messages() <-chan Message { return c.inbox }

// Done is closed when the reader has ended (EOF, error, or Close).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the reader ended: io.EOF for a clean close by the server,
// ErrClosed after Close, otherwise the read or protocol error. It returns
// nil before Done is closed.
func (c *Client) Err() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection (a FIN) and waits for the reader to end. It
// may be called more than once; later calls return nil.
func (c *Client) Close() error { return c.close(false) }

// CloseRST closes the connection with SO_LINGER 0, so that the kernel
// sends an RST instead of a FIN, and waits for the reader to end. For tests
// of abrupt disconnects.
func (c *Client) CloseRST() error { return c.close(true) }

func (c *Client) close(rst bool) error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closing)
		if tc, ok := c.conn.(*net.TCPConn); ok && rst {
			tc.SetLinger(0)
		}
		err = c.conn.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil // the reader got there first
		}
	})
	<-c.done
	return err
}

// LocalAddr returns the local address of the connection.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }
