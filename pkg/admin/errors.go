package admin

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ucompass/compass/pkg/session"
)

// Errors of the handlers; toStatus maps each to its gRPC code.
var (
	// ErrSessionNotFound: no live session has the given id or fd.
	ErrSessionNotFound = errors.New("no such live session")
	// ErrUserNotFound: the user has no live session.
	ErrUserNotFound = errors.New("user has no live session")
	// ErrBanNotFound: no ban of that range is in force.
	ErrBanNotFound = errors.New("no such ban in force")
	// ErrBadCIDR: not an IP address or a CIDR range.
	ErrBadCIDR = errors.New("bad address or CIDR")
	// ErrBadReason: a reason longer than MaxReason bytes or not UTF-8.
	ErrBadReason = errors.New("bad reason")
	// ErrBadDuration: a duration that is not positive or not valid.
	ErrBadDuration = errors.New("bad duration")
	// ErrBadState: a state that is not a SessionState.
	ErrBadState = errors.New("bad state")
	// ErrBadKind: EVENT_KIND_UNSPECIFIED or an unknown event kind.
	ErrBadKind = errors.New("bad event kind")
	// ErrMissingArgument: a required field is empty.
	ErrMissingArgument = errors.New("missing argument")
)

var invalid = []error{
	ErrBadCIDR, ErrBadReason, ErrBadDuration, ErrBadState, ErrBadKind, ErrMissingArgument,
	session.ErrBadOrder, session.ErrBadPageSize, session.ErrBadPageToken, session.ErrPageTokenExpired,
}

var notFound = []error{ErrSessionNotFound, ErrUserNotFound, ErrBanNotFound}

// toStatus turns a handler's error into a gRPC status error with the code
// its sentinel stands for (INTERNAL for anything unexpected).
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case isAny(err, invalid):
		code = codes.InvalidArgument
	case isAny(err, notFound):
		code = codes.NotFound
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
