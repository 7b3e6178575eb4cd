package admin

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/session"
)

// A cluster listing pages by key, not by snapshot: a page token holds the
// sort key and id of the last session of the page (and a fingerprint of
// the filters and order), and every replica returns its matching sessions
// after it. Each page is a fresh gather, so every replica's answer is at
// most a page long, however deep the walk.

// ListSessions lists the matching sessions of every replica, merged in
// order_by's order.
func (s *clusterService) ListSessions(ctx context.Context, req *adminv1.ListSessionsRequest) (*adminv1.ListSessionsResponse, error) {
	local, err := s.localList(req)
	if err != nil {
		return nil, toStatus(err) // a bad request is bad everywhere
	}
	all, total := local.GetSessions(), local.GetTotalSize()
	for _, a := range gather[adminv1.ListSessionsResponse](ctx, s.c, topicList, req) {
		if a.err == nil {
			all = append(all, a.resp.GetSessions()...)
			total += a.resp.GetTotalSize()
		}
	}
	o, _ := session.ParseOrder(req.GetOrderBy()) // checked by localList
	slices.SortFunc(all, func(a, b *adminv1.Session) int {
		return compareKeys(o, protoKey(a, o), a.GetSessionId(), protoKey(b, o), b.GetSessionId())
	})
	size, _ := clusterPageSize(req.GetPageSize())
	resp := &adminv1.ListSessionsResponse{TotalSize: total}
	if len(all) > size {
		all = all[:size]
		last := all[size-1]
		resp.NextPageToken = cursor{fp: listFingerprint(req), key: protoKey(last, o), id: last.GetSessionId()}.encode()
	}
	resp.Sessions = all
	return resp, nil
}

// localList is this replica's part of a cluster listing: its matching
// sessions after the page token, in order, at most one more than the page
// size (so that the merge knows whether there is a next page), and in
// total_size the number of its matching sessions.
func (s *service) localList(req *adminv1.ListSessionsRequest) (*adminv1.ListSessionsResponse, error) {
	q, err := listQuery(req)
	if err != nil {
		return nil, err
	}
	size, err := clusterPageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := decodeCursor(req.GetPageToken(), listFingerprint(req))
	if err != nil {
		return nil, err
	}
	type keyed struct {
		s   *session.Session
		key int64
	}
	var ks []keyed
	matching := s.d.Table.Select(q.Filter.Match)
	for _, sess := range matching {
		k := keyed{sess, sessionKey(sess, q.Order)}
		if after == nil || compareKeys(q.Order, k.key, sess.ID, after.key, after.id) > 0 {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return compareKeys(q.Order, a.key, a.s.ID, b.key, b.s.ID) })
	ks = ks[:min(len(ks), size+1)]
	resp := &adminv1.ListSessionsResponse{TotalSize: int32(len(matching)), Sessions: make([]*adminv1.Session, len(ks))}
	for i, k := range ks {
		resp.Sessions[i] = toSession(k.s)
	}
	return resp, nil
}

func clusterPageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%w: %d", session.ErrBadPageSize, n)
	case n == 0:
		return session.DefaultPageSize, nil
	}
	return min(int(n), session.MaxPageSize), nil
}

// compareKeys orders by key (descending with o.Desc), then by id.
func compareKeys(o session.Order, ka int64, ida string, kb int64, idb string) int {
	c := cmp.Compare(ka, kb)
	if o.Desc {
		c = -c
	}
	if c != 0 {
		return c
	}
	return cmp.Compare(ida, idb)
}

func sessionKey(s *session.Session, o session.Order) int64 {
	switch o.Key {
	case session.ByLastSeen:
		return s.LastSeen().UnixNano()
	case session.ByAbuse:
		return int64(s.Abuse())
	case session.ByMessagesIn:
		return int64(s.MsgsIn.Load())
	}
	return s.ConnectedAt.UnixNano()
}

func protoKey(s *adminv1.Session, o session.Order) int64 {
	switch o.Key {
	case session.ByLastSeen:
		return s.GetLastSeenAt().AsTime().UnixNano()
	case session.ByAbuse:
		return int64(s.GetAbuseScore())
	case session.ByMessagesIn:
		return int64(s.GetMessagesIn())
	}
	return s.GetConnectedAt().AsTime().UnixNano()
}

// cursor is a cluster page token: the page starts after (key, id).
type cursor struct {
	fp  uint64
	key int64
	id  string
}

const cursorTag = "c1"

func (c cursor) encode() string {
	b := append([]byte(cursorTag), make([]byte, 16)...)
	binary.BigEndian.PutUint64(b[2:], c.fp)
	binary.BigEndian.PutUint64(b[10:], uint64(c.key))
	return base64.RawURLEncoding.EncodeToString(append(b, c.id...))
}

// decodeCursor reads a page token ("" is the first page: nil) made for
// the same filters and order.
func decodeCursor(tok string, fp uint64) (*cursor, error) {
	if tok == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 18 || string(b[:2]) != cursorTag {
		return nil, fmt.Errorf("%w: not a cluster page token", session.ErrBadPageToken)
	}
	c := &cursor{fp: binary.BigEndian.Uint64(b[2:]), key: int64(binary.BigEndian.Uint64(b[10:])), id: string(b[18:])}
	if c.fp != fp {
		return nil, fmt.Errorf("%w: made for other filters or another order", session.ErrBadPageToken)
	}
	return c, nil
}

// listFingerprint binds a page token to the filters and order.
func listFingerprint(req *adminv1.ListSessionsRequest) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%q %q %q %d %q", req.GetUser(), req.GetGroup(), req.GetRemoteIp(), req.GetState(), req.GetOrderBy())
	return h.Sum64()
}

// mergeBans keeps one ban per range: the longest-lasting (no expiry
// first), created earliest, with every replica's refusals summed; oldest
// first.
func mergeBans(all []*adminv1.Ban) []*adminv1.Ban {
	by := map[string]*adminv1.Ban{}
	var out []*adminv1.Ban
	for _, b := range all {
		m := by[b.GetCidr()]
		if m == nil {
			m = &adminv1.Ban{Cidr: b.GetCidr(), Reason: b.GetReason(), CreatedAt: b.GetCreatedAt(), ExpiresAt: b.GetExpiresAt()}
			by[b.GetCidr()] = m
			out = append(out, m)
		} else {
			if b.GetCreatedAt().AsTime().Before(m.GetCreatedAt().AsTime()) {
				m.CreatedAt = b.GetCreatedAt()
			}
			if m.ExpiresAt != nil && (b.ExpiresAt == nil || b.GetExpiresAt().AsTime().After(m.GetExpiresAt().AsTime())) {
				m.ExpiresAt, m.Reason = b.GetExpiresAt(), b.GetReason()
			}
		}
		m.RefusedCount += b.GetRefusedCount()
	}
	slices.SortFunc(out, func(a, b *adminv1.Ban) int {
		if c := a.GetCreatedAt().AsTime().Compare(b.GetCreatedAt().AsTime()); c != 0 {
			return c
		}
		return cmp.Compare(a.GetCidr(), b.GetCidr())
	})
	return out
}
