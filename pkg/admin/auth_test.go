package admin_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
)

func TestAuth(t *testing.T) {
	e := start(t, setup{})
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"unary", func(ctx context.Context) error {
			_, err := e.api.GetServerInfo(ctx, &adminv1.GetServerInfoRequest{})
			return err
		}},
		{"unary with arguments", func(ctx context.Context) error {
			_, err := e.api.KickUser(ctx, &adminv1.KickUserRequest{User: "nobody"})
			return err
		}},
		{"stream", func(ctx context.Context) error {
			st, err := e.api.WatchEvents(ctx, &adminv1.WatchEventsRequest{})
			if err != nil {
				return err
			}
			// Headers come once subscribed; none means a status came instead.
			if md, err := st.Header(); err != nil || md != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}},
	}
	creds := []struct {
		name  string
		authz string // "" sends no metadata
		want  codes.Code
	}{
		{"no token", "", codes.Unauthenticated},
		{"wrong token", "Bearer nope", codes.Unauthenticated},
		{"token prefix", "Bearer " + adminToken[:5], codes.Unauthenticated},
		{"token plus", "Bearer " + adminToken + "x", codes.Unauthenticated},
		{"not bearer", "Basic " + adminToken, codes.Unauthenticated},
		{"bare token", adminToken, codes.Unauthenticated},
		{"right token", "Bearer " + adminToken, codes.OK},
		{"lowercase scheme", "bearer " + adminToken, codes.OK},
	}
	for _, c := range calls {
		for _, cr := range creds {
			t.Run(c.name+"/"+cr.name, func(t *testing.T) {
				ctx := testCtx(t)
				if cr.authz != "" {
					ctx = withToken(ctx, cr.authz)
				}
				err := c.call(ctx)
				if cr.want == codes.OK && c.name == "unary with arguments" {
					wantCode(t, err, codes.NotFound) // authenticated, then judged
					return
				}
				wantCode(t, err, cr.want)
			})
		}
	}
}

// TestOpenServices: health and reflection need no token.
func TestOpenServices(t *testing.T) {
	e := start(t, setup{})
	t.Run("health", func(t *testing.T) {
		waitServing(t, e, healthgrpc.HealthCheckResponse_SERVING)
	})
	t.Run("reflection", func(t *testing.T) {
		services := listServices(t, e, testCtx(t))
		for _, want := range []string{"compass.admin.v1.AdminService", "grpc.health.v1.Health"} {
			if !contains(services, want) {
				t.Fatalf("reflection lists %v, want %s", services, want)
			}
		}
	})
}

func TestDevModeNeedsNoToken(t *testing.T) {
	e := start(t, setup{devAdmin: true})
	info, err := e.api.GetServerInfo(testCtx(t), &adminv1.GetServerInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !info.GetDevMode() {
		t.Fatal("dev_mode false in dev mode")
	}
}

func waitServing(t *testing.T, e *env, want healthgrpc.HealthCheckResponse_ServingStatus) {
	t.Helper()
	h := healthgrpc.NewHealthClient(e.conn)
	for _, svc := range []string{"", "compass.admin.v1.AdminService"} {
		waitFor(t, "health "+want.String(), func() bool {
			r, err := h.Check(testCtx(t), &healthgrpc.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatalf("health check without a token: %v", err)
			}
			return r.GetStatus() == want
		})
	}
}

func listServices(t *testing.T, e *env, ctx context.Context) []string {
	t.Helper()
	st, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}
	if err := st.Send(req); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatalf("reflection without a token: %v", err)
	}
	_ = st.CloseSend()
	var out []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		out = append(out, s.GetName())
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
