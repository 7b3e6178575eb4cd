package admin

import (
	"context"
	"fmt"
	"time"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/session"
)

// ListSessions pages through the session table (session.Pager).
func (s *service) ListSessions(_ context.Context, req *adminv1.ListSessionsRequest) (*adminv1.ListSessionsResponse, error) {
	q, err := listQuery(req)
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.pager.List(q)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &adminv1.ListSessionsResponse{NextPageToken: page.NextPageToken, TotalSize: int32(page.Total),
		Sessions: make([]*adminv1.Session, len(page.Sessions))}
	for i, sess := range page.Sessions {
		resp.Sessions[i] = toSession(sess)
	}
	return resp, nil
}

func listQuery(req *adminv1.ListSessionsRequest) (session.Query, error) {
	q := session.Query{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()}
	q.User, q.Group = req.GetUser(), req.GetGroup()
	var err error
	if q.Order, err = session.ParseOrder(req.GetOrderBy()); err != nil {
		return q, err
	}
	if q.State, err = fromState(req.GetState()); err != nil {
		return q, err
	}
	if r := req.GetRemoteIp(); r != "" {
		if q.Remote, err = parsePrefix(r); err != nil {
			return q, err
		}
	}
	return q, nil
}

// GetSession returns one live session.
func (s *service) GetSession(_ context.Context, req *adminv1.GetSessionRequest) (*adminv1.GetSessionResponse, error) {
	if req.GetSessionId() == "" {
		return nil, toStatus(fmt.Errorf("%w: session_id", ErrMissingArgument))
	}
	sess, ok := s.d.Table.Get(req.GetSessionId())
	if !ok {
		return nil, toStatus(fmt.Errorf("%w: %q", ErrSessionNotFound, req.GetSessionId()))
	}
	return &adminv1.GetSessionResponse{Session: toSession(sess)}, nil
}

// KickSession sends one session bye kicked, and bans its address when asked.
func (s *service) KickSession(_ context.Context, req *adminv1.KickSessionRequest) (*adminv1.KickSessionResponse, error) {
	resp, err := s.kickSession(req)
	return resp, toStatus(err)
}

func (s *service) kickSession(req *adminv1.KickSessionRequest) (*adminv1.KickSessionResponse, error) {
	if err := checkReason(req.GetReason()); err != nil {
		return nil, err
	}
	var banFor time.Duration
	if d := req.GetBanDuration(); d != nil {
		var err error
		if banFor, err = positive("ban_duration", d); err != nil {
			return nil, err
		}
	}
	sess, err := s.target(req)
	if err != nil {
		return nil, err
	}
	if !s.kick(sess, req.GetReason()) {
		return nil, fmt.Errorf("%w: %s is already closing", ErrSessionNotFound, sess.ID)
	}
	resp := &adminv1.KickSessionResponse{Session: toSession(sess)}
	if banFor > 0 {
		b, n := s.ban(single(sess.Remote.Addr()), banFor, req.GetReason())
		resp.Ban, resp.BanKickedCount = toBan(b), int32(n)
	}
	return resp, nil
}

// target finds the live session a KickSessionRequest names.
func (s *service) target(req *adminv1.KickSessionRequest) (*session.Session, error) {
	var sess *session.Session
	var ok bool
	var what string
	switch t := req.GetTarget().(type) {
	case *adminv1.KickSessionRequest_SessionId:
		if t.SessionId == "" {
			return nil, fmt.Errorf("%w: session_id", ErrMissingArgument)
		}
		sess, ok = s.d.Table.Get(t.SessionId)
		what = fmt.Sprintf("session_id %q", t.SessionId)
	case *adminv1.KickSessionRequest_Fd:
		sess, ok = s.d.Table.ByFD(int(t.Fd))
		what = fmt.Sprintf("fd %d", t.Fd)
	default:
		return nil, fmt.Errorf("%w: one of session_id and fd", ErrMissingArgument)
	}
	if !ok || sess.Closing() {
		return nil, fmt.Errorf("%w: %s", ErrSessionNotFound, what)
	}
	return sess, nil
}

// kick sends sess bye kicked with reason; false if it was already closing.
func (s *service) kick(sess *session.Session, reason string) bool {
	if !s.d.Kicker.Kick(sess, byeKicked, reason) {
		return false
	}
	s.log.Info("session kicked", "session", sess.ID, "user", sess.User(), "remote", sess.Remote.String(), "reason", reason)
	return true
}

// KickUser sends every session of a user bye kicked.
func (s *service) KickUser(_ context.Context, req *adminv1.KickUserRequest) (*adminv1.KickUserResponse, error) {
	resp, err := s.kickUser(req)
	return resp, toStatus(err)
}

func (s *service) kickUser(req *adminv1.KickUserRequest) (*adminv1.KickUserResponse, error) {
	if req.GetUser() == "" {
		return nil, fmt.Errorf("%w: user", ErrMissingArgument)
	}
	if err := checkReason(req.GetReason()); err != nil {
		return nil, err
	}
	resp := &adminv1.KickUserResponse{}
	for _, sess := range s.d.Table.ByUser(req.GetUser()) {
		if s.kick(sess, req.GetReason()) {
			resp.Sessions = append(resp.Sessions, toSession(sess))
		}
	}
	if len(resp.Sessions) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrUserNotFound, req.GetUser())
	}
	return resp, nil
}
