package loadgen

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/client"
)

// dialer opens sessions the way the Spec says: from the source addresses
// in turn, with a dev-mode hello or an HS256 token.
type dialer struct {
	spec *Spec
	next atomic.Uint64 // source address rotation
	ttl  time.Duration
}

func newDialer(p *Part) *dialer {
	d := &dialer{spec: &p.Spec, ttl: p.Duration + time.Hour}
	d.next.Store(uint64(p.Worker)) // workers start at different addresses
	return d
}

// dial connects user, allowed into groups when tokens are in use.
func (d *dialer) dial(ctx context.Context, user string, groups []string, inbox int) (*client.Client, error) {
	o := client.Options{User: user, Timeout: d.spec.DialTimeout, Inbox: inbox}
	if len(d.spec.Secret) > 0 {
		tok, err := auth.SignHS256(d.spec.Secret, user, groups, d.ttl)
		if err != nil {
			return nil, fmt.Errorf("token for %s: %w", user, err)
		}
		o.Token = tok
	}
	if n := len(d.spec.Sources); n > 0 {
		o.LocalAddr = d.spec.Sources[int((d.next.Add(1)-1)%uint64(n))]
	}
	return client.Dial(ctx, d.spec.Addr, o)
}
