package loadgen_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/ucompass/compass/pkg/loadgen/loadgentest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, loadgentest.IgnoreNetpoll()...)
}
