package cluster_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/client"
)

// BenchmarkCrossReplicaFanout measures sustained fanout over real TCP
// clients: one sender on replica a, receivers all on a (local: the
// single-node path) or all on b (remote: through NATS). One op is one loc,
// delivered to every receiver. The sender keeps at most 512 locs ahead of
// the slowest receiver, so that nothing is dropped and what is measured is
// the throughput the path sustains.
func BenchmarkCrossReplicaFanout(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		for _, where := range []string{"local", "remote"} {
			b.Run(fmt.Sprintf("receivers=%d/%s", n, where), func(b *testing.B) {
				benchFanout(b, n, where == "remote")
			})
		}
	}
}

func benchFanout(b *testing.B, n int, remote bool) {
	_, rs := startCluster(b, 2)
	to := rs[0]
	if remote {
		to = rs[1]
	}
	sender := rs[0].dial("sender")
	join(b, sender, "g")
	recv := make([]*client.Client, n)
	counts := make([]atomic.Int64, n)
	for i := range recv {
		recv[i] = to.dial(fmt.Sprintf("r%d", i))
		join(b, recv[i], "g")
	}
	time.Sleep(200 * time.Millisecond)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i, c := range recv {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case m := <-c.Messages():
					if m.Type == "loc" {
						counts[i].Add(1)
					}
				case <-stop:
					return
				}
			}
		}()
	}
	slowest := func() int64 {
		low := counts[0].Load()
		for i := range counts {
			low = min(low, counts[i].Load())
		}
		return low
	}
	const window = 512
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for int64(i)-slowest() >= window {
			runtime.Gosched()
		}
		if err := sender.LocNoAck(client.Loc{Lat: 37.55, Lng: 126.99}); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for slowest() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("slowest receiver got %d of %d", slowest(), b.N)
		}
		runtime.Gosched()
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	deliveries := float64(b.N) * float64(n)
	b.ReportMetric(deliveries/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkCrossReplicaLatency measures one loc at a time from a sender on
// replica a to a receiver on a (local) or on b (remote): the time per op is
// the latency from the sender's write to the receiver's read, through two
// TCP hops more (to NATS and back) when remote.
func BenchmarkCrossReplicaLatency(b *testing.B) {
	for _, where := range []string{"local", "remote"} {
		b.Run(where, func(b *testing.B) {
			_, rs := startCluster(b, 2)
			to := rs[0]
			if where == "remote" {
				to = rs[1]
			}
			sender, recv := rs[0].dial("sender"), to.dial("recv")
			join(b, sender, "g")
			join(b, recv, "g")
			time.Sleep(200 * time.Millisecond)
			for len(sender.Messages()) > 0 {
				<-sender.Messages()
			}
			b.ResetTimer()
			for range b.N {
				if err := sender.LocNoAck(client.Loc{Lat: 1, Lng: 2}); err != nil {
					b.Fatal(err)
				}
				if m := next(b, recv); m.Type != "loc" {
					b.Fatalf("got %s", m.Raw)
				}
			}
		})
	}
}
