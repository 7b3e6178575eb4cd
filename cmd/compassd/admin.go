package main

import (
	"context"
	"log/slog"

	"github.com/ucompass/compass/pkg/admin"
	"github.com/ucompass/compass/pkg/cluster"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/dataplane"
)

// adminServer is the control plane, bound to --admin-listen.
type adminServer struct{ *admin.Server }

// newAdmin builds the control plane over the data plane's parts and binds
// its listener, so that Addr is the real address (with port 0 too).
func newAdmin(cfg config.Config, token []byte, dp *dataplane.Server, d dataplane.Deps, node *cluster.Node, log *slog.Logger) (*adminServer, error) {
	ad := admin.Deps{
		Table: d.Table, Hub: d.Hub, Bans: d.Bans, Sniff: d.Sniff, Events: d.Events, Metrics: d.Metrics,
		Kicker: dp, Readiness: dp, Logger: log,
	}
	if node != nil { // a nil *Node in the interface would not be a nil Cluster
		ad.Cluster = node
	}
	a, err := admin.New(cfg, token, ad)
	if err != nil {
		return nil, err
	}
	if err := a.Listen(); err != nil {
		return nil, err
	}
	return &adminServer{a}, nil
}

// Run serves until ctx ends; the data plane was given to newAdmin already.
func (a *adminServer) Run(ctx context.Context, _ *dataplane.Server) error {
	return a.Server.Run(ctx)
}
