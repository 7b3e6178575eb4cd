package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Commands the coordinator sends a worker, one JSON object a line: part
// (first, once), go, close. The end of the stream aborts the worker.
const (
	CmdPart  = "part"
	CmdGo    = "go"
	CmdClose = "close"
)

// Command is one line to a worker.
type Command struct {
	Cmd  string `json:"cmd"`
	Part *Part  `json:"part,omitempty"`
}

// Serve is a worker on a pair of streams (a child process's stdin and
// stdout): it reads its part, runs it, and writes its events as JSON
// lines. It returns when the worker is done, or has aborted because ctx
// ended or in was closed early.
func Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(in)
	var first Command
	if err := dec.Decode(&first); err != nil {
		return fmt.Errorf("loadgen: read part: %w", err)
	}
	if first.Cmd != CmdPart || first.Part == nil {
		return fmt.Errorf("loadgen: first command %q, want %q", first.Cmd, CmdPart)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start, closing := make(chan struct{}), make(chan struct{})
	go readCommands(dec, start, closing, cancel) // ends at EOF: the coordinator closes in
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	emit := func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(e)
	}
	err := RunWorker(ctx, *first.Part, Control{Start: start, Close: closing, Emit: emit})
	if err != nil {
		emit(Event{Kind: EventError, Worker: first.Part.Worker, Err: err.Error()})
	}
	return err
}

// readCommands turns command lines into closed channels; the end of the
// stream before close cancels the worker.
func readCommands(dec *json.Decoder, start, closing chan struct{}, cancel func()) {
	var started, closed bool
	for {
		var c Command
		if err := dec.Decode(&c); err != nil {
			if !closed {
				cancel()
			}
			return
		}
		switch {
		case c.Cmd == CmdGo && !started:
			started = true
			close(start)
		case c.Cmd == CmdClose && !closed:
			closed = true
			close(closing)
		}
	}
}

// Link is the coordinator's end of one worker.
type Link struct {
	PID    int // the worker's process (this one for InProcess)
	w      io.WriteCloser
	enc    *json.Encoder
	events chan Event
	wait   func() error
}

// NewLink talks to worker process pid, which reads commands from w and
// writes events to r; wait, when not nil, waits for the worker to end once
// w is closed.
func NewLink(pid int, w io.WriteCloser, r io.Reader, wait func() error) *Link {
	l := &Link{PID: pid, w: w, enc: json.NewEncoder(w), events: make(chan Event, 16), wait: wait}
	go l.read(r) // ends at the end of r
	return l
}

func (l *Link) read(r io.Reader) {
	defer close(l.events)
	dec := json.NewDecoder(r)
	for {
		var e Event
		if err := dec.Decode(&e); err != nil {
			if !errors.Is(err, io.EOF) {
				l.events <- Event{Kind: EventError, Err: fmt.Sprintf("worker output: %v", err)}
			}
			// Drain so the worker is never blocked writing to us.
			_, _ = io.Copy(io.Discard, r)
			return
		}
		l.events <- e
	}
}

// Send writes one command.
func (l *Link) Send(c Command) error { return l.enc.Encode(c) }

// Events is closed when the worker's output ends.
func (l *Link) Events() <-chan Event { return l.events }

// Close ends the command stream (the worker aborts unless it was told to
// close), reads whatever the worker still writes, and waits for it.
func (l *Link) Close() error {
	err := l.w.Close()
	for range l.events {
	}
	if l.wait != nil {
		if werr := l.wait(); werr != nil {
			err = werr
		}
	}
	return err
}

// InProcess starts a worker on a goroutine, connected by pipes exactly
// like a child process.
func InProcess(ctx context.Context) *Link {
	cmdR, cmdW := io.Pipe()
	evR, evW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := Serve(ctx, cmdR, evW)
		evW.Close()
		cmdR.Close()
		done <- err
	}()
	return NewLink(os.Getpid(), cmdW, evR, func() error {
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	})
}
