package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/durationpb"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/session"
)

// MaxReason is the longest kick or ban reason, in bytes.
const MaxReason = 256

// Bye reasons of protocol.md that the control plane sends.
const (
	byeKicked = "kicked"
	byeBanned = "banned"
)

// service implements adminv1.AdminServiceServer over the shared parts.
type service struct {
	adminv1.UnimplementedAdminServiceServer

	cfg   config.Config
	d     Deps
	o     options
	log   *slog.Logger
	pager *session.Pager

	stopping context.Context // cancelled when streams must end
	stop     context.CancelFunc
	senders  sync.WaitGroup // WatchEvents sender goroutines
}

func newService(cfg config.Config, d Deps, o options, log *slog.Logger) *service {
	s := &service{cfg: cfg, d: d, o: o, log: log, pager: session.NewPager(d.Table, o.pager)}
	s.stopping, s.stop = context.WithCancel(context.Background())
	return s
}

// wait waits for every sender goroutine; call it once gRPC has stopped.
func (s *service) wait() { s.senders.Wait() }

// checkReason accepts at most MaxReason bytes of UTF-8.
func checkReason(r string) error {
	if len(r) > MaxReason {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBadReason, len(r), MaxReason)
	}
	if !utf8.ValidString(r) {
		return fmt.Errorf("%w: not UTF-8", ErrBadReason)
	}
	return nil
}

// positive reads a duration that must be valid and above zero.
func positive(field string, d *durationpb.Duration) (time.Duration, error) {
	if err := d.CheckValid(); err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrBadDuration, field, err)
	}
	if d.AsDuration() <= 0 {
		return 0, fmt.Errorf("%w: %s must be positive, got %v", ErrBadDuration, field, d.AsDuration())
	}
	return d.AsDuration(), nil
}

// parsePrefix reads an address (a single-address range) or a CIDR, in
// canonical form (host bits cleared, IPv4-mapped IPv6 as IPv4).
func parsePrefix(s string) (netip.Prefix, error) {
	p, err := config.ParsePrefix(strings.TrimSpace(s))
	if err != nil || !p.IsValid() || strings.Contains(s, "%") { // a zone would be dropped
		return netip.Prefix{}, fmt.Errorf("%w: %q: want an address (203.0.113.7) or a CIDR (203.0.113.0/24)", ErrBadCIDR, s)
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p, nil
}

// single is the one-address range of a.
func single(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen())
}
