package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// Join joins group and waits for the reply with the request's id. It
// returns the reply (joined, or the error line) and, for an error line, a
// *ServerError; a reply of another type is an ErrProtocol.
func (c *Client) Join(ctx context.Context, group string) (Message, error) {
	return c.request(ctx, "joined", func(b []byte, id int64) []byte {
		return appendGroupRequest(b, "join", group, id)
	})
}

// Leave leaves group; otherwise like Join, with reply left.
func (c *Client) Leave(ctx context.Context, group string) (Message, error) {
	return c.request(ctx, "left", func(b []byte, id int64) []byte {
		return appendGroupRequest(b, "leave", group, id)
	})
}

// Ping sends ping with an id and waits for pong.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.request(ctx, "pong", appendPing)
	return err
}

// Loc publishes l with an id and waits for ack; an error reply
// (invalid_location, rate_limited, ...) is returned as a *ServerError.
func (c *Client) Loc(ctx context.Context, l Loc) error {
	if err := l.check(); err != nil {
		return err
	}
	_, err := c.request(ctx, "ack", func(b []byte, id int64) []byte {
		return appendLoc(b, l, id)
	})
	return err
}

// LocNoAck publishes l without an id, so the server sends no ack; an error
// the server reports for it arrives on Messages. It does not allocate. Like
// Send it has no timeout: it blocks while the server does not read, until
// Close.
func (c *Client) LocNoAck(l Loc) error {
	if err := l.check(); err != nil {
		return err
	}
	c.lockWrite(context.Background())
	defer c.unlockWrite()
	if err := c.writable(); err != nil {
		return err
	}
	c.wbuf = appendLoc(c.wbuf[:0], l, 0)
	return c.writeLocked(context.Background(), c.wbuf)
}

// Send writes line exactly as given, no terminator added, as one write
// that no other write interleaves with. Like LocNoAck it has no timeout:
// it blocks while the server does not read, until Close.
func (c *Client) Send(line []byte) error {
	c.lockWrite(context.Background())
	defer c.unlockWrite()
	if err := c.writable(); err != nil {
		return err
	}
	return c.writeLocked(context.Background(), line)
}

// request writes one request with the next id and waits for its reply.
// ctx bounds the wait for the write lock, the write and the wait for the
// reply. When ctx ends first, the request is forgotten and ctx.Err()
// returned, unless the reply is already there; one arriving later goes to
// Messages.
func (c *Client) request(ctx context.Context, want string, enc func([]byte, int64) []byte) (Message, error) {
	ch := make(chan Message, 1)
	id, err := c.send(ctx, ch, enc)
	if err != nil {
		return Message{}, err
	}
	select {
	case m := <-ch:
		return m, replyError(m, want)
	case <-ctx.Done():
		c.forget(id)
		select {
		case m := <-ch: // delivered before forget
			return m, replyError(m, want)
		default:
			return Message{}, ctx.Err()
		}
	case <-c.done:
		select {
		case m := <-ch: // delivered just before the reader ended
			return m, replyError(m, want)
		default:
			return Message{}, c.endError()
		}
	}
}

func (c *Client) send(ctx context.Context, ch chan Message, enc func([]byte, int64) []byte) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := c.lockWrite(ctx); err != nil {
		return 0, err
	}
	defer c.unlockWrite()
	if err := c.writable(); err != nil {
		return 0, err
	}
	c.nextID++
	id := c.nextID
	if !c.track(id, ch) {
		return 0, c.endError()
	}
	c.wbuf = enc(c.wbuf[:0], id)
	if err := c.writeLocked(ctx, c.wbuf); err != nil {
		c.forget(id)
		return 0, err
	}
	return id, nil
}

func replyError(m Message, want string) error {
	switch m.Type {
	case want:
		return nil
	case "error":
		return &ServerError{Code: m.Code, Msg: m.Msg}
	}
	return fmt.Errorf("%w: reply %s, want type %s", ErrProtocol, excerpt(m.Raw), want)
}

// track registers ch as the waiter for id; false once the reader has ended.
func (c *Client) track(id int64, ch chan Message) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return false
	}
	c.pending[id] = ch
	return true
}

func (c *Client) forget(id int64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

func (c *Client) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// endError is what a request returns once the reader has ended.
func (c *Client) endError() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err == nil || err == ErrClosed {
		return ErrClosed
	}
	return fmt.Errorf("client: connection ended: %w", err)
}

// lockWrite takes wlock, or gives up when ctx ends.
func (c *Client) lockWrite(ctx context.Context) error {
	select {
	case c.wlock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) unlockWrite() { <-c.wlock }

// writable reports why nothing can be written any more; wlock held.
func (c *Client) writable() error {
	if c.ended.Load() {
		return c.endError()
	}
	return c.werr
}

// writeLocked writes b, interrupted when ctx ends; wlock held. A write cut
// short part way, or failed otherwise, leaves the stream unusable and every
// later write fails with the same error.
func (c *Client) writeLocked(ctx context.Context, b []byte) error {
	var n int
	var err error
	if ctx.Done() == nil {
		n, err = c.conn.Write(b)
	} else {
		n, err = c.writeContext(ctx, b)
	}
	switch {
	case err == nil:
		return nil
	case c.isClosing():
		return ErrClosed
	case c.ended.Load():
		return c.endError()
	case ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded):
		if n > 0 {
			c.werr = fmt.Errorf("client: a write was cut short: %w", ctx.Err())
		}
		return ctx.Err()
	}
	c.werr = fmt.Errorf("client: write: %w", err)
	return c.werr
}

func (c *Client) writeContext(ctx context.Context, b []byte) (int, error) {
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.SetWriteDeadline(aLongTimeAgo)
		close(fired)
	})
	n, err := c.conn.Write(b)
	if !stop() {
		<-fired
		c.conn.SetWriteDeadline(time.Time{})
	}
	return n, err
}
