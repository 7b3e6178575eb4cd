// Command compass-bench is the U-Compass load tool: it holds idle
// sessions, drives group fanout, churns connections, or all three at
// once, against a compassd on this machine, and reports delivery counts,
// end-to-end latency (HDR histograms) and the server's CPU and memory.
//
//	compass-bench fanout --dev --groups 1000 --members 10 --rate 1.5 --duration 30s \
//	    --server-pid $(pidof compassd) --json fanout.json
//
// See docs/benchmarks.md for the scenarios, the measured results and how
// latency is measured. Connections are spread over source addresses
// 127.0.0.2, 127.0.0.3, ... and, past one process's open-file limit, over
// worker processes: the tool re-executes itself with the hidden --worker
// flag and talks to each worker over its stdin and stdout (JSON lines).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
