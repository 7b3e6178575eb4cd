package cluster

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
)

// Handler answers, on this replica, a control-plane request that another
// replica gathers (package admin registers them: list sessions, kick, ban).
// On error, the body (which may describe the error) is sent with it.
type Handler = func(ctx context.Context, req []byte) ([]byte, error)

// Answer is one replica's answer to a Gather.
type Answer struct {
	Replica string
	Body    []byte // what the handler returned, with or without an error
	Err     string // the handler's error there; "" when it succeeded
}

// Headers of control answers.
const (
	hdrReplica = "Compass-Replica"
	hdrError   = "Compass-Error"
)

var topicRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Handle registers h for topic (letters, digits, '_' and '-'), replacing
// any handler before it; requests for a topic without one are answered
// with an error.
func (n *Node) Handle(topic string, h Handler) {
	if !topicRE.MatchString(topic) {
		panic("cluster: bad control topic " + topic)
	}
	n.mu.Lock()
	n.handlers[topic] = h
	n.mu.Unlock()
}

// serveControl runs on nats.go's goroutine of the control subscription:
// one request at a time, each bounded by --cluster-control-timeout.
func (n *Node) serveControl(m *nats.Msg) {
	if m.Reply == "" || m.Header.Get(hdrReplica) == n.id {
		return
	}
	n.mu.Lock()
	h := n.handlers[n.subj.topic(m.Subject)]
	n.mu.Unlock()
	out := nats.NewMsg(m.Reply)
	out.Header.Set(hdrReplica, n.id)
	if h == nil {
		out.Header.Set(hdrError, "unknown control topic")
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ControlTimeout)
		body, err := h(ctx, m.Data)
		cancel()
		if err != nil {
			msg := strings.Map(func(r rune) rune { // a header value is one line
				if r == '\r' || r == '\n' {
					return ' '
				}
				return r
			}, err.Error())
			if strings.TrimSpace(msg) == "" { // an empty message still marks an error
				msg = "error"
			}
			out.Header.Set(hdrError, msg)
		}
		out.Data = body
	}
	if err := n.nc.PublishMsg(out); err != nil {
		n.m.PublishErrors.Inc()
	}
}

// Gather sends req to topic's handler on every other replica and collects
// the answers until every replica known alive has answered, ctx ends, or
// --cluster-control-timeout passes. missing lists (sorted) the replicas
// known alive that did not answer: a partial answer says whom it lacks.
// While disconnected from NATS, every other replica is missing.
func (n *Node) Gather(ctx context.Context, topic string, req []byte) (answers []Answer, missing []string) {
	want := n.Peers()
	if len(want) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ControlTimeout)
	defer cancel()
	ch := make(chan *nats.Msg, 2*len(want)+16)
	inbox := n.nc.NewInbox()
	sub, err := n.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, want
	}
	defer func() { _ = sub.Unsubscribe() }()
	msg := nats.NewMsg(n.subj.ctl(topic))
	msg.Reply = inbox
	msg.Header.Set(hdrReplica, n.id)
	msg.Data = req
	if err := n.nc.PublishMsg(msg); err != nil {
		n.m.PublishErrors.Inc()
		return nil, want
	}
	got := map[string]bool{}
	for !covers(got, want) {
		select {
		case <-ctx.Done():
			return answers, absent(want, got)
		case m := <-ch:
			r := m.Header.Get(hdrReplica)
			if r == "" || got[r] {
				continue
			}
			got[r] = true
			answers = append(answers, Answer{Replica: r, Body: m.Data, Err: m.Header.Get(hdrError)})
		}
	}
	return answers, nil
}

func covers(got map[string]bool, want []string) bool {
	for _, r := range want {
		if !got[r] {
			return false
		}
	}
	return true
}

func absent(want []string, got map[string]bool) []string {
	var out []string
	for _, r := range want {
		if !got[r] {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}
