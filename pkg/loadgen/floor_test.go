package loadgen_test

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// BenchmarkLoopbackWrite is the floor under the server's cost per
// delivery: one write of lines=1 (or 10) 150-byte loc lines to one of
// 1,000 loopback TCP connections in turn, from one OS thread, while other
// goroutines read them. It reports the writing thread's own CPU time per
// line (RUSAGE_THREAD): on loopback that includes the receiving side's TCP
// processing, which the kernel runs in the sender's softirq.
func BenchmarkLoopbackWrite(b *testing.B) {
	for _, lines := range []int{1, 10} {
		b.Run(fmt.Sprintf("lines=%d", lines), func(b *testing.B) { loopbackWrite(b, lines) })
	}
}

func loopbackWrite(b *testing.B, lines int) {
	const conns = 1000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var readers sync.WaitGroup
	var writers []net.Conn
	for range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		readers.Go(func() { _, _ = io.Copy(io.Discard, c) })
		writers = append(writers, s)
	}
	line := make([]byte, 150*lines)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadCPU()
	b.ResetTimer()
	for i := range b.N {
		if _, err := writers[i%conns].Write(line); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(threadCPU()-before)/float64(b.N*lines), "thread-cpu-ns/line")
	for _, w := range writers {
		w.Close()
	}
	readers.Wait()
}

func threadCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
