package dataplane_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/sniff"
)

const sniffTimeout = sniff.Timeout

func errorAs(err error, target any) bool { return errors.As(err, target) }

func mustSign(t *testing.T, secret []byte, user string) string {
	t.Helper()
	tok, err := auth.SignHS256(secret, user, []string{"g1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
