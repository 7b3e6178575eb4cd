package admin

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/cluster"
)

// Cluster carries control-plane calls to the other replicas of a cluster
// (cluster.Node fits; docs/cluster.md). Nil in a single node.
type Cluster interface {
	ID() string
	Handle(topic string, h cluster.Handler)
	Gather(ctx context.Context, topic string, req []byte) ([]cluster.Answer, []string)
}

// Response header metadata of a call served in cluster mode.
const (
	// MDReplica names the replica that served the call.
	MDReplica = "compass-replica"
	// MDMissing lists, comma-separated, the replicas known alive that did
	// not answer: the answer is partial.
	MDMissing = "compass-replicas-missing"
)

// Control topics, one per RPC that reaches every replica.
const (
	topicList     = "list-sessions"
	topicGet      = "get-session"
	topicKick     = "kick-session"
	topicKickUser = "kick-user"
	topicBan      = "ban"
	topicUnban    = "unban"
	topicListBans = "list-bans"
)

// api is what New registers: the service itself, or with a cluster, the
// service seen through every replica.
func (s *service) api() adminv1.AdminServiceServer {
	c := s.d.Cluster
	if c == nil {
		return s
	}
	c.Handle(topicList, remote(s.localList))
	c.Handle(topicGet, remote(s.localGet))
	c.Handle(topicKick, remote(s.kickSession))
	c.Handle(topicKickUser, remote(s.kickUser))
	c.Handle(topicBan, remote(s.banAddress))
	c.Handle(topicUnban, remote(s.unban))
	c.Handle(topicListBans, remote(func(*adminv1.ListBansRequest) (*adminv1.ListBansResponse, error) {
		return s.ListBans(context.Background(), nil)
	}))
	return &clusterService{service: s, c: c}
}

// remote adapts a local handler to a control topic: the request and the
// response are the RPC's protobuf messages; an error travels as a
// google.rpc.Status, so that its code survives the trip.
func remote[Req any, PReq interface {
	*Req
	proto.Message
}, Resp proto.Message](h func(PReq) (Resp, error)) cluster.Handler {
	return func(_ context.Context, b []byte) ([]byte, error) {
		req := PReq(new(Req))
		if err := proto.Unmarshal(b, req); err != nil {
			return statusBody(status.Error(codes.InvalidArgument, "bad request from another replica")), err
		}
		resp, err := h(req)
		if err != nil {
			err = toStatus(err)
			return statusBody(err), err
		}
		return proto.Marshal(resp)
	}
}

func statusBody(err error) []byte {
	b, _ := proto.Marshal(status.Convert(err).Proto())
	return b
}

// answer is one replica's response or error.
type answer[Resp proto.Message] struct {
	replica string
	resp    Resp
	err     error
}

// gather asks every other replica, sets the partial-answer metadata, and
// decodes the answers.
func gather[Resp any, PResp interface {
	*Resp
	proto.Message
}](ctx context.Context, c Cluster, topic string, req proto.Message) []answer[PResp] {
	b, err := proto.Marshal(req)
	if err != nil {
		return nil
	}
	as, missing := c.Gather(ctx, topic, b)
	md := metadata.Pairs(MDReplica, c.ID())
	if len(missing) > 0 {
		md.Set(MDMissing, strings.Join(missing, ","))
	}
	_ = grpc.SetHeader(ctx, md) // fails only outside a call (tests)
	out := make([]answer[PResp], 0, len(as))
	for _, a := range as {
		x := answer[PResp]{replica: a.Replica, resp: PResp(new(Resp))}
		switch {
		case a.Err != "":
			x.err = remoteError(a)
		case proto.Unmarshal(a.Body, x.resp) != nil:
			x.err = status.Errorf(codes.Unknown, "replica %s: undecodable answer", a.Replica)
		}
		out = append(out, x)
	}
	return out
}

// remoteError restores the status of a replica's error.
func remoteError(a cluster.Answer) error {
	var st spb.Status
	if err := proto.Unmarshal(a.Body, &st); err == nil && st.GetCode() != 0 {
		return status.ErrorProto(&st)
	}
	return status.Errorf(codes.Unknown, "replica %s: %s", a.Replica, a.Err)
}

// isNotFound reports whether err is a NOT_FOUND status.
func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }

// clusterService is the AdminService of a replica in a cluster: the calls
// that name sessions or bans reach every replica (docs/cluster.md); the
// others are the local service's.
type clusterService struct {
	*service
	c Cluster
}

// GetSession looks here first, then on the other replicas.
func (s *clusterService) GetSession(ctx context.Context, req *adminv1.GetSessionRequest) (*adminv1.GetSessionResponse, error) {
	resp, err := s.localGet(req)
	if err == nil || !isNotFound(toStatus(err)) {
		return resp, toStatus(err)
	}
	for _, a := range gather[adminv1.GetSessionResponse](ctx, s.c, topicGet, req) {
		if a.err == nil {
			return a.resp, nil
		}
	}
	return nil, toStatus(err)
}

func (s *service) localGet(req *adminv1.GetSessionRequest) (*adminv1.GetSessionResponse, error) {
	return s.GetSession(context.Background(), req)
}

// KickSession kicks here or on the replica holding the session (by
// session_id; an fd names a session of this process only). With a ban, the
// address is banned on every replica, each closing its sessions from it.
func (s *clusterService) KickSession(ctx context.Context, req *adminv1.KickSessionRequest) (*adminv1.KickSessionResponse, error) {
	if d := req.GetBanDuration(); d != nil {
		if _, err := positive("ban_duration", d); err != nil {
			return nil, toStatus(err)
		}
	}
	kick := proto.CloneOf(req)
	kick.BanDuration = nil // banned below, everywhere
	resp, err := s.kickSession(kick)
	if err != nil && isNotFound(toStatus(err)) && req.GetSessionId() != "" {
		for _, a := range gather[adminv1.KickSessionResponse](ctx, s.c, topicKick, kick) {
			if a.err == nil {
				resp, err = a.resp, nil
				break
			}
		}
	}
	if err != nil {
		return nil, toStatus(err)
	}
	if req.GetBanDuration() != nil {
		ap, perr := netip.ParseAddrPort(resp.GetSession().GetRemoteAddr())
		if perr != nil {
			return nil, status.Errorf(codes.Internal, "session address %q: %v", resp.GetSession().GetRemoteAddr(), perr)
		}
		b, n, err := s.banEverywhere(ctx, &adminv1.BanAddressRequest{Cidr: single(ap.Addr()).String(),
			Duration: req.GetBanDuration(), Reason: req.GetReason()})
		if err != nil {
			return nil, err
		}
		resp.Ban, resp.BanKickedCount = b, int32(n)
	}
	return resp, nil
}

// banEverywhere bans on this replica and the others; it returns this
// replica's ban and how many sessions the ban closed in all.
func (s *clusterService) banEverywhere(ctx context.Context, req *adminv1.BanAddressRequest) (*adminv1.Ban, int, error) {
	local, err := s.banAddress(req)
	if err != nil {
		return nil, 0, toStatus(err)
	}
	n := int(local.GetKickedCount())
	for _, a := range gather[adminv1.BanAddressResponse](ctx, s.c, topicBan, req) {
		if a.err == nil {
			n += int(a.resp.GetKickedCount())
		}
	}
	return local.GetBan(), n, nil
}

// KickUser kicks the user's sessions on every replica.
func (s *clusterService) KickUser(ctx context.Context, req *adminv1.KickUserRequest) (*adminv1.KickUserResponse, error) {
	resp, err := s.kickUser(req)
	switch {
	case err == nil:
	case errors.Is(err, ErrUserNotFound):
		resp = &adminv1.KickUserResponse{}
	default:
		return nil, toStatus(err) // a bad request is bad everywhere
	}
	for _, a := range gather[adminv1.KickUserResponse](ctx, s.c, topicKickUser, req) {
		if a.err == nil {
			resp.Sessions = append(resp.Sessions, a.resp.GetSessions()...)
		}
	}
	if len(resp.Sessions) == 0 {
		return nil, toStatus(err)
	}
	return resp, nil
}

// BanAddress bans on every replica; each kicks its own sessions in range.
func (s *clusterService) BanAddress(ctx context.Context, req *adminv1.BanAddressRequest) (*adminv1.BanAddressResponse, error) {
	b, n, err := s.banEverywhere(ctx, req)
	if err != nil {
		return nil, err
	}
	return &adminv1.BanAddressResponse{Ban: b, KickedCount: int32(n)}, nil
}

// UnbanAddress lifts the ban on every replica; NOT_FOUND only when no
// replica had it.
func (s *clusterService) UnbanAddress(ctx context.Context, req *adminv1.UnbanAddressRequest) (*adminv1.UnbanAddressResponse, error) {
	resp, err := s.unban(req)
	if err != nil && !errors.Is(err, ErrBanNotFound) {
		return nil, toStatus(err)
	}
	for _, a := range gather[adminv1.UnbanAddressResponse](ctx, s.c, topicUnban, req) {
		if a.err == nil && resp == nil {
			resp = a.resp
		}
	}
	if resp == nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

// ListBans lists the union of every replica's bans, one per range: the
// longest-lasting, with the refusals of all replicas summed.
func (s *clusterService) ListBans(ctx context.Context, req *adminv1.ListBansRequest) (*adminv1.ListBansResponse, error) {
	resp, _ := s.service.ListBans(ctx, req)
	all := resp.GetBans()
	for _, a := range gather[adminv1.ListBansResponse](ctx, s.c, topicListBans, req) {
		if a.err == nil {
			all = append(all, a.resp.GetBans()...)
		}
	}
	return &adminv1.ListBansResponse{Bans: mergeBans(all)}, nil
}
