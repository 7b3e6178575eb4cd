package admin

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// healthService is the standard health service whose Watch streams end
// (UNAVAILABLE) when the server stops, so that they cannot hold up the
// graceful stop.
type healthService struct {
	*health.Server
	stopping context.Context // cancelled when streams must end
	refresh  func()          // sets the status from readiness now
}

// Check answers from the readiness of this moment, not the last poll's:
// a probe right after the data plane became ready must see SERVING.
// (After Shutdown, health.Server ignores the refresh: NOT_SERVING stays.)
func (h healthService) Check(ctx context.Context, req *healthgrpc.HealthCheckRequest) (*healthgrpc.HealthCheckResponse, error) {
	h.refresh()
	return h.Server.Check(ctx, req)
}

// Watch is health.Server's Watch on a context that also ends at stop.
func (h healthService) Watch(req *healthgrpc.HealthCheckRequest, stream healthgrpc.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	defer context.AfterFunc(h.stopping, cancel)()
	err := h.Server.Watch(req, ctxStream{stream, ctx})
	if h.stopping.Err() != nil {
		return status.Error(codes.Unavailable, "server shutting down")
	}
	return err
}

type ctxStream struct {
	healthgrpc.Health_WatchServer
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }
