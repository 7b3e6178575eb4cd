package metrics_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The cardinality guard runs a real data plane: netpoll's pollers and its
// goroutine pool live for the whole process and are not leaks.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
		goleak.IgnoreAnyFunction("github.com/bytedance/gopkg/util/gopool.(*worker).run.func1"),
		goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll/internal/runner.(*pool).run"),
		goleak.IgnoreTopFunction("time.Sleep"),
	)
}
