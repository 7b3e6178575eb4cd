package cluster

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/hub"
	"github.com/ucompass/compass/pkg/metrics"
)

// Queue sizes: frames waiting to be published, and frames received but not
// yet handled. Past them a frame is dropped and counted.
const (
	outboxSize = 1 << 16
	inboxSize  = 1 << 16
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("cluster: node closed")

// Node is this replica's member of the cluster: it carries its hub's
// groups to the other replicas through NATS (it is the hub's Bridge) and
// answers their control-plane requests.
type Node struct {
	cfg  config.Cluster
	id   string
	hub  *hub.Hub
	m    *metrics.Cluster
	log  *slog.Logger
	subj subjects
	nc   *nats.Conn

	out         chan outItem
	in          chan *nats.Msg
	reconnected chan struct{}
	resync      chan struct{}
	stop        chan struct{}
	outStop     chan struct{}
	wg          sync.WaitGroup
	connected   atomic.Bool
	dirty       atomic.Bool // a frame was dropped on the way out: push every state again
	idClash     atomic.Bool // logged once: another process uses this replica id
	pullSeq     atomic.Uint64
	bufs        sync.Pool
	closeOnce   sync.Once

	mu       sync.Mutex // guards the fields below; never held while calling the hub
	started  bool
	closed   bool
	peers    map[string]time.Time // replica → last heard
	bySub    map[*nats.Subscription]*cgroup
	pulls    map[uint64]*pull
	handlers map[string]Handler
	hbSub    *nats.Subscription
	syncSub  *nats.Subscription
	inboxSub *nats.Subscription
	inbox    string
}

// outItem is one thing for the outbox goroutine to do.
type outItem struct {
	subj  string
	reply string
	buf   *[]byte
	unsub *nats.Subscription
}

// New returns a node for h that is not yet connected. m may be nil (the
// metrics then go to a private registry).
func New(cfg config.Cluster, h *hub.Hub, m *metrics.Cluster, log *slog.Logger) (*Node, error) {
	if !cfg.Enabled() {
		return nil, errors.New("cluster: no NATS URL")
	}
	if h == nil {
		return nil, errors.New("cluster: missing hub")
	}
	cfg = withDefaults(cfg)
	if m == nil {
		m = metrics.NewCluster(prometheus.NewRegistry())
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	id := cfg.ReplicaID
	if id == "" {
		id = defaultReplicaID()
	}
	n := &Node{cfg: cfg, id: id, hub: h, m: m, subj: newSubjects(cfg.Prefix),
		log:         log.With("part", "cluster", "replica", id),
		out:         make(chan outItem, outboxSize),
		in:          make(chan *nats.Msg, inboxSize),
		reconnected: make(chan struct{}, 1), resync: make(chan struct{}, 1),
		stop: make(chan struct{}), outStop: make(chan struct{}),
		peers: map[string]time.Time{}, bySub: map[*nats.Subscription]*cgroup{},
		pulls: map[uint64]*pull{}, handlers: map[string]Handler{}}
	return n, nil
}

// withDefaults fills what a config built in code left zero.
func withDefaults(c config.Cluster) config.Cluster {
	d := config.DefaultCluster()
	if c.Prefix == "" {
		c.Prefix = d.Prefix
	}
	for _, p := range []struct{ v, d *time.Duration }{
		{&c.NATSReconnectWait, &d.NATSReconnectWait}, {&c.Heartbeat, &d.Heartbeat},
		{&c.ReplicaTTL, &d.ReplicaTTL}, {&c.SyncTimeout, &d.SyncTimeout}, {&c.ControlTimeout, &d.ControlTimeout},
	} {
		if *p.v <= 0 {
			*p.v = *p.d
		}
	}
	return c
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// defaultReplicaID is the host name (the pod name under Kubernetes), made
// unique per process by a random suffix: a restarted pod is a new replica,
// never mistaken for its previous life.
func defaultReplicaID() string {
	host, _ := os.Hostname()
	host = unsafeID.ReplaceAllString(host, "-")
	if len(host) > 50 {
		host = host[:50]
	}
	var b [4]byte
	_, _ = crand.Read(b[:])
	if host == "" {
		return hex.EncodeToString(b[:])
	}
	return host + "-" + hex.EncodeToString(b[:])
}

// ID returns this replica's id.
func (n *Node) ID() string { return n.id }

// Connected reports whether the node is connected to NATS now.
func (n *Node) Connected() bool { return n.connected.Load() }

// Peers returns the other replicas known alive, sorted.
func (n *Node) Peers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peerList()
}

// Start connects to NATS (or keeps trying in the background when it is
// unreachable: the node then serves locally until it connects), attaches
// the node to the hub, and starts the node's goroutines. When connected, it
// waits briefly (at most --cluster-sync-timeout) for the other replicas to
// make themselves known, so that the first joins find them.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.closed || n.started {
		n.mu.Unlock()
		return ErrClosed
	}
	n.started = true
	n.mu.Unlock()
	opts, err := n.natsOptions()
	if err != nil {
		return err
	}
	nc, err := nats.Connect(n.cfg.NATSURL, opts...)
	if err != nil {
		return fmt.Errorf("cluster: connect to %s: %w", redact(n.cfg.NATSURL), err)
	}
	if err := n.subscribe(nc); err != nil {
		nc.Close()
		return err
	}
	n.hub.Attach(n)
	n.wg.Add(2)
	go n.publisher()
	go n.dispatch()
	if nc.IsConnected() {
		n.setConnected(true)
		n.sendAlive()
		n.discover(ctx)
	} else {
		n.log.Warn("NATS unreachable at start; serving locally until it connects", "url", redact(n.cfg.NATSURL))
	}
	return nil
}

// subscribe sets up the subscriptions every replica has.
func (n *Node) subscribe(nc *nats.Conn) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nc = nc
	var err error
	n.inbox = n.nc.NewInbox()
	if n.hbSub, err = n.nc.ChanSubscribe(n.subj.hb, n.in); err != nil {
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	if n.syncSub, err = n.nc.ChanSubscribe(n.subj.sync, n.in); err != nil {
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	if n.inboxSub, err = n.nc.ChanSubscribe(n.inbox+".*", n.in); err != nil {
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	if _, err = n.nc.Subscribe(n.subj.ctlAll, n.serveControl); err != nil {
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	return nil
}

// discover waits until no new replica has announced itself for a short
// while, at most the sync timeout.
func (n *Node) discover(ctx context.Context) {
	deadline := time.Now().Add(n.cfg.SyncTimeout)
	quiet := min(50*time.Millisecond, n.cfg.SyncTimeout)
	last, known := time.Now(), 0
	for time.Now().Before(deadline) && time.Since(last) < quiet {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
		if k := len(n.Peers()); k != known {
			known, last = k, time.Now()
		}
	}
}

// natsOptions builds the connection: credentials and TLS from the flags,
// no echo (a replica never receives its own frames), reconnection forever
// with a jittered backoff, and no reconnect buffer: while disconnected a
// frame fails at once rather than being replayed late (docs/cluster.md).
func (n *Node) natsOptions() ([]nats.Option, error) {
	c := n.cfg
	opts := []nats.Option{
		nats.Name("compassd " + n.id),
		nats.NoEcho(),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(backoff(c.NATSReconnectWait)),
		nats.ReconnectBufSize(-1),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.FlusherTimeout(2 * time.Second),
		nats.Timeout(2 * time.Second),
		nats.ConnectHandler(func(nc *nats.Conn) { n.onReconnect(nc, false) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { n.onReconnect(nc, true) }),
		nats.DisconnectErrHandler(n.onDisconnect),
		nats.ErrorHandler(n.onAsyncError),
	}
	if c.NATSCredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.NATSCredsFile))
	}
	if c.NATSTokenFile != "" {
		b, err := os.ReadFile(c.NATSTokenFile)
		if err != nil {
			return nil, fmt.Errorf("--nats-token-file: %w", err)
		}
		opts = append(opts, nats.Token(strings.TrimRight(string(b), "\r\n")))
	}
	if c.NATSCAFile != "" {
		opts = append(opts, nats.RootCAs(c.NATSCAFile))
	}
	if c.NATSCertFile != "" {
		opts = append(opts, nats.ClientCert(c.NATSCertFile, c.NATSKeyFile))
	}
	return opts, nil
}

// backoff doubles the wait from 100 ms up to max, each wait drawn between
// half and all of it, so that replicas do not reconnect in step.
func backoff(max time.Duration) nats.ReconnectDelayHandler {
	return func(attempts int) time.Duration {
		d := min(100*time.Millisecond, max)
		for i := 1; i < attempts && d < max; i++ {
			d *= 2
		}
		d = min(d, max)
		return d/2 + rand.N(d/2+1)
	}
}

// redact drops user information from URLs for logs.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			if s := strings.Index(p, "://"); s >= 0 && s < at {
				parts[i] = p[:s+3] + "REDACTED@" + p[at+1:]
			}
		}
	}
	return strings.Join(parts, ",")
}

func (n *Node) setConnected(up bool) {
	n.connected.Store(up)
	if up {
		n.m.Connected.Set(1)
	} else {
		n.m.Connected.Set(0)
	}
}

// onReconnect runs on nats.go's callback goroutine after a (re)connection.
func (n *Node) onReconnect(nc *nats.Conn, re bool) {
	n.setConnected(true)
	if re {
		n.m.Reconnects.Inc()
	}
	n.log.Info("connected to NATS", "server", nc.ConnectedUrlRedacted(), "reconnect", re)
	select {
	case n.reconnected <- struct{}{}:
	default:
	}
}

func (n *Node) onDisconnect(_ *nats.Conn, err error) {
	n.setConnected(false)
	if n.isClosed() {
		return
	}
	n.log.Warn("disconnected from NATS; local delivery goes on, reconnecting", "err", err)
}

// onAsyncError hears of dropped frames: the inbox fell behind. What was
// lost is unknown, so every group's state is fetched again.
func (n *Node) onAsyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) {
		dropped, _ := sub.Dropped()
		n.m.Dropped.WithLabelValues(metrics.DroppedSlowConsumer).Add(float64(max(dropped, 1)))
		n.log.Warn("falling behind NATS: frames dropped, resynchronising", "dropped", dropped)
		select {
		case n.resync <- struct{}{}:
		default:
		}
		return
	}
	n.log.Warn("NATS error", "err", err)
}

func (n *Node) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

// Close says goodbye to the other replicas (they forget this replica's
// members at once rather than after --cluster-replica-ttl), publishes what
// is still queued (until ctx ends), and closes the connection. Every
// goroutine the node started has ended when it returns. Close the data
// plane first: its drain's leaves are the last frames worth sending.
func (n *Node) Close(ctx context.Context) {
	n.closeOnce.Do(func() { n.close(ctx) })
}

func (n *Node) close(ctx context.Context) {
	n.mu.Lock()
	n.closed = true
	started := n.nc != nil
	n.mu.Unlock()
	if !started {
		return
	}
	if n.connected.Load() {
		b := n.buf()
		*b = appendHeader(*b, kindBye, n.id)
		n.enqueue(n.subj.hb, "", b)
	}
	close(n.stop)
	close(n.outStop)
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.nc.Close() // unblocks a publisher stuck on a dead socket
		<-done
	}
	if n.nc.IsConnected() {
		_ = n.nc.FlushTimeout(time.Second)
	}
	n.nc.Close()
	n.setConnected(false)
	n.log.Info("left the cluster")
}

// buf returns an empty pooled buffer for a frame; the publisher puts it
// back.
func (n *Node) buf() *[]byte {
	b, ok := n.bufs.Get().(*[]byte)
	if !ok {
		return new([]byte)
	}
	*b = (*b)[:0]
	return b
}

func (n *Node) putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		n.bufs.Put(b)
	}
}

// enqueue hands a frame to the publisher without ever blocking: a full
// outbox drops it (counted) and marks every state to be pushed again.
func (n *Node) enqueue(subj, reply string, b *[]byte) {
	select {
	case n.out <- outItem{subj: subj, reply: reply, buf: b}:
	default:
		n.putBuf(b)
		n.m.PublishErrors.Inc()
		n.dirty.Store(true)
	}
}

// publisher is the only goroutine that publishes frames, so they leave in
// the order they were queued (hub.Port's ordering contract). On stop it
// publishes what is already queued and returns.
func (n *Node) publisher() {
	defer n.wg.Done()
	for {
		select {
		case it := <-n.out:
			n.publish(it)
		case <-n.outStop:
			for {
				select {
				case it := <-n.out:
					n.publish(it)
				default:
					return
				}
			}
		}
	}
}

func (n *Node) publish(it outItem) {
	if it.unsub != nil {
		_ = it.unsub.Unsubscribe()
		return
	}
	var err error
	if it.reply == "" {
		err = n.nc.Publish(it.subj, *it.buf)
	} else {
		err = n.nc.PublishRequest(it.subj, it.reply, *it.buf)
	}
	n.putBuf(it.buf)
	if err != nil {
		n.m.PublishErrors.Inc()
		if !errors.Is(err, nats.ErrReconnectBufExceeded) && !errors.Is(err, nats.ErrConnectionClosed) {
			n.log.Debug("publish failed", "subject", it.subj, "err", err)
		}
		if n.connected.Load() {
			n.dirty.Store(true)
		}
		return
	}
	n.m.Published.Inc()
}
