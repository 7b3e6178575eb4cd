package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/ucompass/compass/pkg/client"
	"github.com/ucompass/compass/pkg/loadgen"
)

// fdSlack is what a worker keeps for itself besides its sessions (stdio,
// epoll, the runtime, dials in flight).
const fdSlack = 256

// workerCount is how many workers the open-file limit calls for.
func workerCount(o options) int {
	if o.workers > 0 {
		return o.workers
	}
	limit, err := loadgen.RaiseNoFile()
	if err != nil || limit <= fdSlack*2 {
		return 1
	}
	need := o.spec.Sessions() + o.spec.Churn
	per := int(limit) - fdSlack
	return max(1, (need+per-1)/per)
}

// startWorkers returns one link per worker: in-process for one worker,
// child processes (this binary with --worker) otherwise.
func startWorkers(ctx context.Context, o options, stderr io.Writer) ([]*loadgen.Link, error) {
	n := workerCount(o)
	if n == 1 {
		return []*loadgen.Link{loadgen.InProcess(ctx)}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var links []*loadgen.Link
	for range n {
		l, err := startChild(exe, stderr)
		if err != nil {
			for _, l := range links {
				_ = l.Close()
			}
			return nil, err
		}
		links = append(links, l)
	}
	return links, nil
}

// startChild runs exe --worker, killed if this process dies.
func startChild(exe string, stderr io.Writer) (*loadgen.Link, error) {
	cmd := exec.Command(exe, "--worker")
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	return loadgen.NewLink(cmd.Process.Pid, in, out, cmd.Wait), nil
}

// server is a compassd started by --server-cmd.
type server struct {
	cmd  *exec.Cmd
	done chan error
	log  *os.File
}

// startServer runs line and waits until addr accepts connections.
func startServer(ctx context.Context, line, logFile, addr string, stderr io.Writer) (*server, error) {
	args := strings.Fields(line)
	if len(args) == 0 {
		return nil, errors.New("--server-cmd is empty")
	}
	if c, err := client.RawDial(ctx, addr, ""); err == nil {
		c.Close()
		return nil, fmt.Errorf("--server-cmd: something already listens on %s", addr)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &server{cmd: cmd, done: make(chan error, 1)}
	if logFile != "" {
		f, err := os.Create(logFile)
		if err != nil {
			return nil, fmt.Errorf("--server-log: %w", err)
		}
		s.log = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("--server-cmd: %w", err)
	}
	go func() { s.done <- cmd.Wait() }()
	if err := s.waitListening(ctx, addr); err != nil {
		return nil, errors.Join(err, s.stop())
	}
	fmt.Fprintf(stderr, "compass-bench: server pid %d listening on %s\n", s.pid(), addr)
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// waitListening dials addr until it answers (the probe is one connection
// the server classifies as empty, before any measurement starts).
func (s *server) waitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := client.RawDial(ctx, addr, "")
		if err == nil {
			c.Close()
			time.Sleep(50 * time.Millisecond)
			select {
			case err := <-s.done:
				s.done <- err
				return fmt.Errorf("server exited: %v", err)
			default:
				return nil
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("server exited before listening: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not listening on %s after 15s", addr)
		}
	}
}

// stop sends SIGTERM, and SIGKILL if the server has not exited 20 s later.
func (s *server) stop() error {
	defer func() {
		if s.log != nil {
			s.log.Close()
		}
	}()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("server: %w", err)
		}
		return nil
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("server did not stop within 20s of SIGTERM; killed")
	}
}
