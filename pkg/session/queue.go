package session

import (
	"github.com/ucompass/compass/pkg/wire"
)

// maxPooled keeps a burst's buffer from being pooled forever.
const maxPooled = 64 << 10

// getBuf takes an outbound buffer from the pool shared by the sessions of
// one Limits: an idle session holds none, a busy one does not allocate per
// message.
func (l *Limits) getBuf() []byte {
	if b, ok := l.bufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 2048)
}

func (l *Limits) putBuf(b []byte) {
	if cap(b) <= maxPooled {
		b = b[:0]
		l.bufs.Put(&b)
	}
}

// Send queues one complete message (a line with its '\n'). It reports false
// when the message was dropped: the session is closing, or its queue
// overflowed, in which case the session is sent bye slow_consumer and
// closed.
func (s *Session) Send(msg []byte) bool { return s.SendTracked(msg, nil) }

// SendTracked is Send that also reports to f when msg has been written (or
// dropped). f may be nil.
func (s *Session) SendTracked(msg []byte, f *Fanout) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	if len(s.out)+len(msg) > s.limits.QueueBytes || s.queued+1 > s.limits.QueueMessages {
		s.overflowLocked()
		s.mu.Unlock()
		if s.limits.OnOverflow != nil {
			s.limits.OnOverflow(s)
		}
		return false
	}
	s.appendLocked(msg)
	if f != nil {
		f.pending.Add(1)
		s.tracked = append(s.tracked, f)
	}
	start := s.startLocked()
	s.mu.Unlock()
	if start {
		go s.flush()
	}
	return true
}

// overflowLocked drops what is queued and leaves only the bye: the peer is
// not reading, so the bye goes out only if the socket still takes it.
func (s *Session) overflowLocked() {
	s.limits.Buffered.Add(-float64(len(s.out)))
	s.out = s.out[:0]
	s.queued = 0
	s.settleLocked()
	s.closing = true
	s.state.Store(int32(Closing))
	s.setReasonLocked("slow_consumer")
	s.appendLocked(byeLine("slow_consumer", "", -1))
	if s.startLocked() {
		go s.flush()
	}
}

// SendAndClose queues msg as the last message and closes the session once
// it is written (or its write fails). reason is recorded as the close
// reason. It reports false when the session was already closing.
func (s *Session) SendAndClose(msg []byte, reason string) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	s.closing = true
	s.state.Store(int32(Closing))
	s.setReasonLocked(reason)
	s.appendLocked(msg)
	start := s.startLocked()
	s.mu.Unlock()
	if start {
		go s.flush()
	}
	return true
}

// Close closes the connection at once, dropping anything queued.
func (s *Session) Close(reason string) {
	s.mu.Lock()
	s.closing = true
	s.setReasonLocked(reason)
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.limits.Buffered.Add(-float64(len(s.out)))
	if s.out != nil {
		s.limits.putBuf(s.out)
	}
	s.out, s.queued = nil, 0
	s.settleLocked()
	s.mu.Unlock()
	s.state.Store(int32(Closing))
	_ = s.conn.Close()
}

// Closing reports whether the session is closing or closed.
func (s *Session) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Session) setReasonLocked(r string) {
	if s.reason == "" {
		s.reason = r
	}
}

func (s *Session) appendLocked(msg []byte) {
	if s.out == nil {
		s.out = s.limits.getBuf()
	}
	s.out = append(s.out, msg...)
	s.queued++
	s.limits.Buffered.Add(float64(len(msg)))
}

// startLocked claims the flusher role if nobody holds it.
func (s *Session) startLocked() bool {
	if s.writing || s.closed {
		return false
	}
	s.writing = true
	return true
}

// flush is the session's only writer: it drains the queue, one write per
// batch, until the queue is empty, then closes the session if asked to.
func (s *Session) flush() {
	var prev []*Fanout // the tracked slice of the last batch, for reuse
	for {
		s.mu.Lock()
		if prev != nil && s.spareTracked == nil {
			s.spareTracked = prev[:0]
		}
		if s.closed || len(s.out) == 0 {
			s.writing = false
			done := s.closing && !s.closed
			s.mu.Unlock()
			if done {
				s.Close("")
			}
			return
		}
		buf, n, tracked := s.out, s.queued, s.tracked
		s.out, s.queued, s.tracked = nil, 0, s.spareTracked[:0]
		s.spareTracked = nil
		s.limits.Buffered.Add(-float64(len(buf)))
		s.mu.Unlock()

		w, err := s.conn.Write(buf)
		s.BytesOut.Add(uint64(w))
		s.MsgsOut.Add(uint64(n))
		s.limits.SentBytes.Add(float64(w))
		s.limits.putBuf(buf)
		settle(tracked)
		prev = tracked
		if err != nil {
			s.Close("write_error")
			return
		}
	}
}

func byeLine(reason, msg string, retryMS int64) []byte {
	return wire.AppendBye(nil, reason, msg, retryMS)
}

// settleLocked reports every tracked message as done: they will never be
// written.
func (s *Session) settleLocked() {
	settle(s.tracked)
	s.tracked = s.tracked[:0]
}

func settle(tracked []*Fanout) {
	for i, f := range tracked {
		f.Done()
		tracked[i] = nil
	}
}
