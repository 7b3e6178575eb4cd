package loadgen_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/dataplane/dataplanetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, dataplanetest.GoleakOptions()...)
}

// secret is the HS256 secret startServer accepts tokens signed with.
var secret = []byte("loadgentest-0123456789abcdef-0123456789abcdef")

// startServer runs a data plane (dev mode, HS256 tokens accepted too,
// generous connection limits) with its /metrics served, until the test
// ends; edit may change the config.
func startServer(t *testing.T, edit func(*config.Config)) *dataplanetest.Plane {
	t.Helper()
	srv := dataplanetest.Start(t, secret, func(c *config.Config) {
		c.MaxConnsPerIP = 100000
		if edit != nil {
			edit(c)
		}
	})
	srv.ServeMetrics()
	return srv
}
