package main

import (
	"context"
	"log/slog"

	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/dataplane"
)

// adminServer is replaced by pkg/admin's server.
type adminServer struct{}

func newAdmin(cfg config.Config, token []byte, dp *dataplane.Server, d dataplane.Deps, log *slog.Logger) (*adminServer, error) {
	return &adminServer{}, nil
}

func (a *adminServer) Addr() string { return "" }

func (a *adminServer) Run(ctx context.Context, dp *dataplane.Server) error {
	<-ctx.Done()
	return nil
}
