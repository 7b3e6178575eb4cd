package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// openServices need no token: probes and tooling discovery.
var openServices = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

// authenticator checks the bearer token of every call to a closed service.
type authenticator struct {
	token []byte
	open  bool // dev mode: nothing is checked
	log   *slog.Logger
}

func (a authenticator) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := a.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (a authenticator) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := a.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}

// check returns UNAUTHENTICATED unless method is open or ctx carries the
// token.
func (a authenticator) check(ctx context.Context, method string) error {
	if a.open || isOpen(method) {
		return nil
	}
	why := a.verify(metadata.ValueFromIncomingContext(ctx, "authorization"))
	if why == "" {
		return nil
	}
	remote := ""
	if p, ok := peer.FromContext(ctx); ok {
		remote = p.Addr.String()
	}
	a.log.Warn("admin call refused", "method", method, "peer", remote, "why", why)
	return status.Error(codes.Unauthenticated, why)
}

// verify says what is wrong with the authorization values ("" if nothing).
func (a authenticator) verify(values []string) string {
	if len(values) == 0 {
		return `missing "authorization: Bearer <admin token>" metadata`
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return `authorization metadata is not "Bearer <admin token>"`
	}
	if !equal([]byte(strings.TrimSpace(tok)), a.token) {
		return "invalid admin token"
	}
	return ""
}

// equal compares in constant time, also in the length (both are hashed).
func equal(got, want []byte) bool {
	g, w := sha256.Sum256(got), sha256.Sum256(want)
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1 && len(want) > 0
}

func isOpen(method string) bool {
	for _, p := range openServices {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}
