package admin

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/ban"
	"github.com/ucompass/compass/pkg/events"
)

// BanAddress bans a range and sends its live sessions bye banned.
func (s *service) BanAddress(_ context.Context, req *adminv1.BanAddressRequest) (*adminv1.BanAddressResponse, error) {
	resp, err := s.banAddress(req)
	return resp, toStatus(err)
}

func (s *service) banAddress(req *adminv1.BanAddressRequest) (*adminv1.BanAddressResponse, error) {
	p, err := parsePrefix(req.GetCidr())
	if err != nil {
		return nil, err
	}
	var d time.Duration
	if req.GetDuration() != nil {
		if d, err = positive("duration", req.GetDuration()); err != nil {
			return nil, err
		}
	}
	if err := checkReason(req.GetReason()); err != nil {
		return nil, err
	}
	b, n := s.ban(p, d, req.GetReason())
	return &adminv1.BanAddressResponse{Ban: toBan(b), KickedCount: int32(n)}, nil
}

// ban bans p for d (0: until unbanned) and sends every live session in it
// bye banned with reason in msg. It returns the ban and how many sessions
// it closed.
func (s *service) ban(p netip.Prefix, d time.Duration, reason string) (ban.Ban, int) {
	b := s.d.Bans.Add(p, d, reason)
	s.d.Events.Publish(events.Event{Kind: events.AddressBanned, Reason: reason, CIDR: b.Prefix.String()})
	n := 0
	for _, sess := range s.d.Table.ByPrefix(b.Prefix) {
		if s.d.Kicker.Kick(sess, byeBanned, reason) {
			n++
		}
	}
	s.log.Info("address banned", "cidr", b.Prefix.String(), "for", d, "reason", reason, "kicked", n)
	return b, n
}

// UnbanAddress lifts a ban.
func (s *service) UnbanAddress(_ context.Context, req *adminv1.UnbanAddressRequest) (*adminv1.UnbanAddressResponse, error) {
	resp, err := s.unban(req)
	return resp, toStatus(err)
}

func (s *service) unban(req *adminv1.UnbanAddressRequest) (*adminv1.UnbanAddressResponse, error) {
	p, err := parsePrefix(req.GetCidr())
	if err != nil {
		return nil, err
	}
	var found *ban.Ban
	for _, b := range s.d.Bans.List() {
		if b.Prefix == p {
			found = &b
		}
	}
	if found == nil || !s.d.Bans.Remove(p) {
		return nil, fmt.Errorf("%w: %s", ErrBanNotFound, p)
	}
	s.d.Events.Publish(events.Event{Kind: events.AddressUnbanned, CIDR: p.String()})
	s.log.Info("address unbanned", "cidr", p.String())
	return &adminv1.UnbanAddressResponse{Ban: toBan(*found)}, nil
}

// ListBans lists the bans in force, oldest first.
func (s *service) ListBans(context.Context, *adminv1.ListBansRequest) (*adminv1.ListBansResponse, error) {
	bans := s.d.Bans.List()
	resp := &adminv1.ListBansResponse{Bans: make([]*adminv1.Ban, len(bans))}
	for i, b := range bans {
		resp.Bans[i] = toBan(b)
	}
	return resp, nil
}
