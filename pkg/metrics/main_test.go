package metrics_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/ucompass/compass/pkg/dataplane/dataplanetest"
)

// The cardinality guard runs a real data plane: netpoll's pollers and its
// goroutine pool live for the whole process and are not leaks.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, dataplanetest.GoleakOptions()...)
}
