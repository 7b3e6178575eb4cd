package dataplane

import (
	"slices"
	"time"

	"github.com/ucompass/compass/pkg/events"
	"github.com/ucompass/compass/pkg/metrics"
	"github.com/ucompass/compass/pkg/session"
	"github.com/ucompass/compass/pkg/wire"
)

// handle acts on one line (terminator removed) of size bytes on the wire.
func (c *conn) handle(line []byte, size int) {
	sess := c.sess.Load()
	now := time.Now()
	sess.Seen(now)
	sess.BytesIn.Add(uint64(size))
	if len(line) == 0 || sess.Closing() {
		return
	}
	sess.MsgsIn.Add(1)
	req, derr := wire.Decode(line)
	if c.phase.Load() == phaseHandshaking {
		c.handshake(sess, req, derr, now)
		return
	}
	if derr != nil {
		c.fail(derr.Code, derr.Msg, derr.ID)
		return
	}
	c.srv.m.received[req.Type].Inc()
	switch req.Type {
	case wire.TypeJoin:
		c.join(sess, req)
	case wire.TypeLeave:
		c.leave(sess, req)
	case wire.TypeLoc:
		c.loc(sess, req, now)
	case wire.TypePing:
		c.send(sess, "pong", wire.AppendPong(c.reply[:0], req.ID))
	case wire.TypeHello:
		c.fail(wire.CodeInvalidMessage, "already welcomed", req.ID)
	}
}

// handshake expects hello: anything else closes the connection.
func (c *conn) handshake(sess *session.Session, req wire.Request, derr *wire.Error, now time.Time) {
	switch {
	case derr != nil && derr.Code == wire.CodeInvalidJSON:
		c.fail(wire.CodeInvalidJSON, derr.Msg, nil)
		return
	case derr != nil || req.Type != wire.TypeHello:
		var id []byte
		if derr != nil {
			id = derr.ID
		} else {
			id = req.ID
			c.srv.m.received[req.Type].Inc()
		}
		c.fail(wire.CodeHandshakeRequired, "hello expected", id)
		return
	}
	c.srv.m.received[wire.TypeHello].Inc()
	user, ok := c.authenticate(req, now)
	if !ok {
		c.fail(wire.CodeUnauthorized, "invalid credentials", req.ID)
		return
	}
	if !c.phase.CompareAndSwap(phaseHandshaking, phaseActive) {
		return // the handshake deadline won
	}
	c.timer.Stop()
	sess.Activate(user)
	s := c.srv
	s.m.handshaking.Dec()
	s.m.active.Inc()
	s.m.HandshakeDuration.Observe(now.Sub(c.acceptedAt).Seconds())
	c.tokens, c.refill = float64(s.cfg.LocBurst), now
	c.send(sess, "welcome", wire.AppendWelcome(c.reply[:0], sess.ID, user, int(s.cfg.Heartbeat/time.Millisecond), s.cfg.MaxLine))
	c.reply = nil // an idle session keeps no reply buffer
	s.d.Events.Publish(events.Event{Kind: events.SessionOpened, Session: sess.ID, User: user, Remote: sess.Remote.String(), FD: sess.FD})
}

// authenticate verifies the hello's token, or in dev mode takes its user.
func (c *conn) authenticate(req wire.Request, now time.Time) (string, bool) {
	s := c.srv
	if s.cfg.Dev && req.User != "" {
		if len(req.User) > 64 {
			return "", false
		}
		c.dev = true
		return req.User, true
	}
	if req.Token == "" || s.d.Verifier == nil {
		return "", false
	}
	id, err := s.d.Verifier.VerifyAt(req.Token, now)
	if err != nil {
		s.log.Debug("hello refused", "remote", c.remote.String(), "err", err)
		return "", false
	}
	c.identity = id
	return id.User, true
}

func (c *conn) join(sess *session.Session, req wire.Request) {
	s := c.srv
	if !c.dev && !slices.Contains(c.identity.Groups, req.Group) {
		c.fail(wire.CodeForbidden, "group not in token", req.ID)
		return
	}
	if !sess.InGroup(req.Group) && len(sess.Groups()) >= s.cfg.MaxGroups {
		c.fail(wire.CodeTooManyGroups, "group limit reached", req.ID)
		return
	}
	user := sess.User()
	if !sess.AddGroup(req.Group) {
		// Already a member: answer with a fresh snapshot, announce nothing.
		c.send(sess, "joined", s.d.Hub.Snapshot(sess, user, req.Group, req.ID, c.reply[:0]))
		return
	}
	if s.d.Hub.Join(sess, user, req.Group, req.ID, &c.sc) {
		s.m.sent["joined"].Inc()
	}
}

func (c *conn) leave(sess *session.Session, req wire.Request) {
	if !sess.RemoveGroup(req.Group) {
		c.fail(wire.CodeNotJoined, "group not joined", req.ID)
		return
	}
	c.srv.d.Hub.Leave(sess, sess.User(), req.Group, &c.sc)
	c.send(sess, "left", wire.AppendLeft(c.reply[:0], req.Group, req.ID))
}

func (c *conn) loc(sess *session.Session, req wire.Request, now time.Time) {
	s := c.srv
	if !c.allow(now) {
		c.fail(wire.CodeRateLimited, "loc rate exceeded", req.ID)
		return
	}
	loc := req.Loc
	loc.STS = now.UnixMilli()
	sess.SetLocation(loc)
	if groups := sess.Groups(); len(groups) > 0 {
		// The histogram is observed when the last recipient's write of
		// this loc returns (operations.md), not when it is queued.
		f := session.NewFanout(now, s.fanoutDone)
		s.d.Hub.Publish(sess, sess.User(), groups, loc, &c.sc, f)
		f.Release()
	}
	if req.ID != nil {
		c.send(sess, "ack", wire.AppendAck(c.reply[:0], req.ID))
	}
}

// allow takes a token from the session's loc bucket.
func (c *conn) allow(now time.Time) bool {
	cfg := &c.srv.cfg
	c.tokens += now.Sub(c.refill).Seconds() * cfg.LocRate
	c.refill = now
	if c.tokens > float64(cfg.LocBurst) {
		c.tokens = float64(cfg.LocBurst)
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// send queues a reply and counts it.
func (c *conn) send(sess *session.Session, typ string, line []byte) {
	c.reply = line[:0]
	if sess.Send(line) {
		c.srv.m.sent[typ].Inc()
	}
}

// fail answers an error. One that closes is the last thing written; one
// that keeps the connection adds to the abuse score.
func (c *conn) fail(code wire.Code, msg string, id []byte) {
	s := c.srv
	sess := c.sess.Load()
	s.m.errors[code].Inc()
	line := wire.AppendError(c.reply[:0], code, msg, id)
	c.reply = line[:0]
	if code.Closes() || c.phase.Load() == phaseHandshaking {
		c.phase.Store(phaseClosed)
		c.timer.Stop()
		reason := string(code)
		if !code.Closes() {
			reason = metrics.ClosedHandshakeError
		}
		if sess.SendAndClose(line, reason) {
			s.m.sent["error"].Inc()
		}
		return
	}
	if sess.Send(line) {
		s.m.sent["error"].Inc()
	}
	if sess.AddAbuse(time.Now(), s.cfg.AbuseWindow) > s.cfg.AbuseThreshold {
		s.bye(sess, ByeAbuse, "too many protocol errors", -1)
	}
}

// bye sends the last message and closes the session.
func (s *Server) bye(sess *session.Session, reason, msg string, retryMS int64) bool {
	if !sess.SendAndClose(wire.AppendBye(nil, reason, msg, retryMS), reason) {
		return false
	}
	s.m.sent["bye"].Inc()
	s.m.kicks[reason].Inc()
	return true
}

// Kick ends sess with bye reason and msg (the control plane's kicks and
// bans). It reports false when the session was already closing.
func (s *Server) Kick(sess *session.Session, reason, msg string) bool {
	if sess.Closing() {
		return false
	}
	// Announced before the bye is queued, so that watchers see kicked
	// before closed.
	s.d.Events.Publish(events.Event{Kind: events.SessionKicked, Session: sess.ID, User: sess.User(),
		Remote: sess.Remote.String(), Reason: msg, FD: sess.FD})
	return s.bye(sess, reason, msg, -1)
}

func (s *Server) onOverflow(sess *session.Session) {
	s.m.QueueOverflows.Inc()
	s.m.kicks[ByeSlowConsumer].Inc()
	s.m.sent["bye"].Inc()
	s.log.Info("slow consumer closed", "session", sess.ID)
}
