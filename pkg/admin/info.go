package admin

import (
	"context"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/session"
	"github.com/ucompass/compass/pkg/sniff"
	"github.com/ucompass/compass/pkg/version"
)

// GetSnifferStats returns the class counts and the recent rejections.
func (s *service) GetSnifferStats(context.Context, *adminv1.GetSnifferStatsRequest) (*adminv1.GetSnifferStatsResponse, error) {
	counts := s.d.Sniff.Counts()
	resp := &adminv1.GetSnifferStatsResponse{}
	for _, c := range sniff.Classes() {
		resp.Counts = append(resp.Counts, &adminv1.ClassCount{Class: c.String(), Count: counts[c]})
	}
	for _, r := range s.d.Sniff.Recent() {
		resp.Recent = append(resp.Recent, &adminv1.Rejection{Time: timestamppb.New(r.Time),
			RemoteAddr: r.Remote, Class: r.Class.String(), Head: r.Head})
	}
	return resp, nil
}

// GetServerInfo describes the build, the limits and the current counts.
func (s *service) GetServerInfo(context.Context, *adminv1.GetServerInfoRequest) (*adminv1.GetServerInfoResponse, error) {
	all := s.d.Table.All()
	active := 0
	for _, sess := range all {
		if sess.ShownState() == session.Active {
			active++
		}
	}
	resp := &adminv1.GetServerInfoResponse{
		Version: version.Version, GoVersion: version.Go(), StartTime: timestamppb.New(s.o.startTime),
		Limits:   limits(s.cfg),
		Sessions: int64(len(all)), ActiveSessions: int64(active), Groups: int64(s.d.Hub.Len()),
		Bans: int64(len(s.d.Bans.List())), DevMode: s.cfg.Dev, Ready: s.d.Readiness.Ready(),
	}
	for _, p := range s.cfg.TrustedProxies {
		resp.TrustedProxies = append(resp.TrustedProxies, p.String())
	}
	return resp, nil
}

func limits(c config.Config) *adminv1.Limits {
	return &adminv1.Limits{
		MaxLine: int32(c.MaxLine), HandshakeTimeout: durationpb.New(c.HandshakeTimeout),
		Heartbeat: durationpb.New(c.Heartbeat), MaxGroups: int32(c.MaxGroups),
		LocRate: c.LocRate, LocBurst: int32(c.LocBurst),
		MaxConns: int32(c.MaxConns), MaxConnsPerIp: int32(c.MaxConnsPerIP),
		DrainTimeout:   durationpb.New(c.DrainTimeout),
		AbuseThreshold: float64(c.AbuseThreshold), AbuseWindow: durationpb.New(c.AbuseWindow),
	}
}
