package client

import (
	"bufio"
	"fmt"
	"io"
)

// keepLong is the largest assembly buffer kept between long lines.
const keepLong = 16 << 10

// readLoop is the client's one goroutine.
func (c *Client) readLoop() {
	c.finish(c.readMessages())
}

func (c *Client) readMessages() error {
	for {
		line, err := c.readLine()
		if err != nil {
			return err
		}
		if isBlank(line) {
			continue
		}
		m, err := decode(line)
		if err != nil {
			return err
		}
		if c.deliverReply(m) {
			continue
		}
		select {
		case c.inbox <- m:
		case <-c.closing:
			return ErrClosed
		}
	}
}

// finish records why the reader ended, fails pending requests and closes
// the connection, Messages and Done, in that order.
func (c *Client) finish(err error) {
	if c.isClosing() {
		err = ErrClosed
	}
	c.mu.Lock()
	c.err = err
	c.pending = nil
	c.mu.Unlock()
	c.ended.Store(true)
	c.conn.Close()
	close(c.inbox)
	close(c.done)
}

// deliverReply hands m to the request waiting for its id, if any.
func (c *Client) deliverReply(m Message) bool {
	id, ok := parseID(m.ID)
	if !ok {
		return false
	}
	c.mu.Lock()
	ch, ok := c.pending[id]
	if ok {
		delete(c.pending, id)
		ch <- m // buffered for exactly this one reply
	}
	c.mu.Unlock()
	return ok
}

// parseID reads the ids this client sends: 1 to 18 decimal digits.
func parseID(raw []byte) (int64, bool) {
	if len(raw) == 0 || len(raw) > 18 || raw[0] == '0' {
		return 0, false
	}
	var id int64
	for _, b := range raw {
		if b < '0' || b > '9' {
			return 0, false
		}
		id = id*10 + int64(b-'0')
	}
	return id, true
}

// readLine returns the next line without its "\n". The slice is valid
// until the next call.
func (c *Client) readLine() ([]byte, error) {
	if cap(c.long) > keepLong {
		c.long = nil
	}
	line, err := c.br.ReadSlice('\n')
	if len(line) > c.limit {
		return nil, ErrLineTooLong
	}
	switch err {
	case nil:
		return line[:len(line)-1], nil
	case bufio.ErrBufferFull:
		c.long = append(c.long[:0], line...)
		return c.readLongLine()
	}
	return nil, readError(err, len(line))
}

func (c *Client) readLongLine() ([]byte, error) {
	for {
		line, err := c.br.ReadSlice('\n')
		if len(c.long)+len(line) > c.limit {
			return nil, ErrLineTooLong
		}
		c.long = append(c.long, line...)
		switch err {
		case nil:
			return c.long[:len(c.long)-1], nil
		case bufio.ErrBufferFull:
			continue
		}
		return nil, readError(err, len(c.long))
	}
}

// readError turns an EOF in the middle of a line into io.ErrUnexpectedEOF.
func readError(err error, partial int) error {
	if err == io.EOF && partial > 0 {
		return fmt.Errorf("client: connection closed mid-line: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// isBlank reports an empty line, which the protocol ignores.
func isBlank(line []byte) bool {
	return len(line) == 0 || len(line) == 1 && line[0] == '\r'
}

// excerpt quotes the start of a line for an error message.
func excerpt(b []byte) string {
	const max = 200
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}
