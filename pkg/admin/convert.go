package admin

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/ban"
	"github.com/ucompass/compass/pkg/events"
	"github.com/ucompass/compass/pkg/session"
	"github.com/ucompass/compass/pkg/wire"
)

func toSession(s *session.Session) *adminv1.Session {
	groups := s.Groups()
	slices.Sort(groups)
	out := &adminv1.Session{
		SessionId: s.ID, Fd: int64(s.FD), User: s.User(), Groups: groups,
		RemoteAddr: s.Remote.String(), State: toState(s.ShownState()),
		ConnectedAt: timestamppb.New(s.ConnectedAt), LastSeenAt: timestamppb.New(s.LastSeen()),
		MessagesIn: s.MsgsIn.Load(), MessagesOut: s.MsgsOut.Load(),
		BytesIn: s.BytesIn.Load(), BytesOut: s.BytesOut.Load(),
		AbuseScore: float64(s.Abuse()),
	}
	if l, ok := s.Location(); ok {
		out.LastLocation = toLocation(l)
	}
	return out
}

func toLocation(l wire.Location) *adminv1.Location {
	out := &adminv1.Location{Lat: l.Lat, Lng: l.Lng, Sts: timestamppb.New(time.UnixMilli(l.STS))}
	if l.HasAcc {
		out.Acc = proto.Float64(l.Acc)
	}
	if l.HasTS {
		out.Ts = timestamppb.New(time.UnixMilli(l.TS))
	}
	return out
}

var states = map[session.State]adminv1.SessionState{
	session.Handshaking: adminv1.SessionState_SESSION_STATE_HANDSHAKING,
	session.Active:      adminv1.SessionState_SESSION_STATE_ACTIVE,
	session.Closing:     adminv1.SessionState_SESSION_STATE_CLOSING,
}

func toState(s session.State) adminv1.SessionState { return states[s] }

// fromState reads a state filter (UNSPECIFIED: any, the zero State).
func fromState(s adminv1.SessionState) (session.State, error) {
	if s == adminv1.SessionState_SESSION_STATE_UNSPECIFIED {
		return 0, nil
	}
	for k, v := range states {
		if v == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: %d", ErrBadState, s)
}

func toBan(b ban.Ban) *adminv1.Ban {
	out := &adminv1.Ban{Cidr: b.Prefix.String(), Reason: b.Reason,
		CreatedAt: timestamppb.New(b.Created), RefusedCount: b.Hits}
	if !b.Expires.IsZero() {
		out.ExpiresAt = timestamppb.New(b.Expires)
	}
	return out
}

var kinds = map[events.Kind]adminv1.EventKind{
	events.SessionOpened:   adminv1.EventKind_EVENT_KIND_SESSION_OPENED,
	events.SessionClosed:   adminv1.EventKind_EVENT_KIND_SESSION_CLOSED,
	events.SessionKicked:   adminv1.EventKind_EVENT_KIND_SESSION_KICKED,
	events.AddressBanned:   adminv1.EventKind_EVENT_KIND_ADDRESS_BANNED,
	events.AddressUnbanned: adminv1.EventKind_EVENT_KIND_ADDRESS_UNBANNED,
	events.SnifferRejected: adminv1.EventKind_EVENT_KIND_SNIFFER_REJECTED,
}

// fromKinds reads a kind filter; empty means all (no kinds).
func fromKinds(in []adminv1.EventKind) ([]events.Kind, error) {
	out := make([]events.Kind, 0, len(in))
	for _, k := range in {
		found := false
		for ek, pk := range kinds {
			if pk == k {
				out, found = append(out, ek), true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: %v", ErrBadKind, k)
		}
	}
	return out, nil
}

func toEvent(e events.Event) *adminv1.Event {
	return &adminv1.Event{Time: timestamppb.New(e.Time), Kind: kinds[e.Kind], SessionId: e.Session,
		Fd: int64(e.FD), User: e.User, RemoteAddr: e.Remote, Reason: e.Reason, Cidr: e.CIDR}
}
