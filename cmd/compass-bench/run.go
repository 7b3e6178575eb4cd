package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ucompass/compass/pkg/loadgen"
)

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "compass-bench: %v\n", err)
		return 2
	}
	if _, err := loadgen.RaiseNoFile(); err != nil {
		fmt.Fprintf(stderr, "compass-bench: raise the open-file limit: %v\n", err)
	}
	if o.worker {
		if err := loadgen.Serve(ctx, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(stderr, "compass-bench worker: %v\n", err)
			return 1
		}
		return 0
	}
	rep, err := bench(ctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "compass-bench: %v\n", err)
		return 1
	}
	if p := rep.Problems(); o.strict && len(p) > 0 {
		fmt.Fprintf(stderr, "compass-bench: --strict: %s\n", strings.Join(p, ", "))
		return 3
	}
	return 0
}

// bench runs one scenario: server (if asked to start one), workers,
// coordinator, report.
func bench(ctx context.Context, o options, stdout, stderr io.Writer) (rep *loadgen.Report, err error) {
	if o.serverCmd != "" {
		srv, err := startServer(ctx, o.serverCmd, o.serverLog, o.spec.Addr, stderr)
		if err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, srv.stop()) }()
		o.serverPID = srv.pid()
	}
	links, err := startWorkers(ctx, o, stderr)
	if err != nil {
		return nil, err
	}
	co := loadgen.Options{ServerPID: o.serverPID, MetricsURL: o.metricsURL}
	if !o.quiet {
		co.Progress = stderr
	}
	rep, err = loadgen.Coordinate(ctx, o.spec, links, co)
	if err != nil {
		return nil, err
	}
	if err := rep.WriteText(stdout); err != nil {
		return nil, err
	}
	if o.jsonFile != "" {
		return rep, writeJSON(o.jsonFile, rep)
	}
	return rep, nil
}

func writeJSON(path string, rep *loadgen.Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
