package admin

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/events"
)

type eventStream = grpc.ServerStreamingServer[adminv1.WatchEventsResponse]

// flushWait bounds how long a stream ended by the server's stop waits for
// its sender to hand over the events already queued.
const flushWait = time.Second

// WatchEvents streams bus events. The response headers are sent once the
// subscription is live, so a client that waits for them sees every event
// from then on. See the package comment for how a slow watcher is ended.
func (s *service) WatchEvents(req *adminv1.WatchEventsRequest, stream eventStream) error {
	kinds, err := fromKinds(req.GetKinds())
	if err != nil {
		return toStatus(err)
	}
	sub := s.d.Events.Subscribe(s.o.watchBuffer, kinds...)
	defer sub.Close()
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	out := make(chan *adminv1.WatchEventsResponse, s.o.watchBuffer)
	sent := make(chan error, 1)
	s.senders.Go(func() { sent <- sendEvents(stream, out) })
	return s.forward(stream.Context(), sub, out, sent)
}

// forward moves events from the subscription to the sender's queue until
// the stream must end, then closes the queue: the sender sends what is left
// (after the stream has ended, its Sends fail at once). When the server
// stops, forward waits for that (at most flushWait) so that watchers see
// the last events of the drain before UNAVAILABLE.
func (s *service) forward(ctx context.Context, sub *events.Sub, out chan<- *adminv1.WatchEventsResponse, sent <-chan error) error {
	err := s.pump(ctx, sub, out, sent)
	close(out)
	if s.stopping.Err() != nil && status.Code(err) == codes.Unavailable {
		t := time.NewTimer(flushWait)
		defer t.Stop()
		select {
		case <-sent:
		case <-t.C:
		}
	}
	return err
}

// pump never waits on the sender: a full queue ends the stream.
func (s *service) pump(ctx context.Context, sub *events.Sub, out chan<- *adminv1.WatchEventsResponse, sent <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stopping.Done():
			for more := true; more; { // hand over what the subscription holds
				select {
				case e, ok := <-sub.C():
					more = ok && queue(out, e)
				default:
					more = false
				}
			}
			return status.Error(codes.Unavailable, "server shutting down")
		case err := <-sent:
			return err
		case e, ok := <-sub.C():
			if !ok || !queue(out, e) {
				return s.dropped()
			}
		}
	}
}

// queue adds e to out unless out is full.
func queue(out chan<- *adminv1.WatchEventsResponse, e events.Event) bool {
	select {
	case out <- &adminv1.WatchEventsResponse{Event: toEvent(e)}:
		return true
	default:
		return false
	}
}

// sendEvents is a stream's only sender; it may block on flow control, which
// is why it has its own goroutine. It returns when out is closed and
// drained, or a Send fails.
func sendEvents(stream eventStream, out <-chan *adminv1.WatchEventsResponse) error {
	for m := range out {
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	return nil
}

func (s *service) dropped() error {
	s.d.Metrics.WatchersDropped.Inc()
	s.log.Info("event watcher dropped: it fell behind", "buffer", s.o.watchBuffer)
	return status.Errorf(codes.ResourceExhausted,
		"watcher fell behind (more than %d events unread); call again", s.o.watchBuffer)
}
