package session

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ucompass/compass/pkg/wire"
)

// State is where a session is in its life.
type State int32

// States of a session.
const (
	Handshaking State = iota + 1
	Active
	Closing
)

func (s State) String() string {
	switch s {
	case Handshaking:
		return "handshaking"
	case Active:
		return "active"
	case Closing:
		return "closing"
	}
	return "unknown"
}

// Conn is what a session needs of its connection.
type Conn interface {
	Write(p []byte) (int, error)
	Close() error
}

// Counter is what a session needs of a metric (prometheus.Counter fits).
type Counter interface{ Add(float64) }

// Gauge is what a session needs of a gauge (prometheus.Gauge fits).
type Gauge interface{ Add(float64) }

// Limits bound a session's outbound queue and name the shared counters it
// reports to. One Limits is shared by every session.
type Limits struct {
	QueueBytes    int
	QueueMessages int
	SentBytes     Counter // every byte written
	Buffered      Gauge   // bytes queued, across sessions
	// OnOverflow is told when a session's queue overflowed, before its bye.
	OnOverflow func(*Session)

	bufs sync.Pool // outbound buffers; a Limits must not be copied
}

// Session is one client connection after the sniffer accepted it.
type Session struct {
	ID          string
	Seq         uint64 // creation order, unique per process
	FD          int
	Remote      netip.AddrPort
	ConnectedAt time.Time

	conn   Conn
	limits *Limits

	state       atomic.Int32
	active      atomic.Bool  // welcomed, even if closing now
	lastSeen    atomic.Int64 // unix nanoseconds
	MsgsIn      atomic.Uint64
	MsgsOut     atomic.Uint64
	BytesIn     atomic.Uint64
	BytesOut    atomic.Uint64
	abuse       atomic.Int64
	abuseAt     atomic.Int64 // start of the abuse window, unix nanoseconds
	abuseWindow atomic.Int64

	mu      sync.Mutex
	user    string
	groups  []string
	loc     wire.Location
	hasLoc  bool
	out     []byte // queued bytes
	queued  int    // queued messages
	tracked []*Fanout
	// spareTracked is the slice the flusher last wrote from, kept to be
	// reused so that tracking allocates nothing per batch.
	spareTracked []*Fanout
	writing      bool // a flusher is running
	closing      bool // no more sends; close once flushed
	closed       bool
	reason       string
}

// New returns a handshaking session on conn.
func New(conn Conn, fd int, remote netip.AddrPort, now time.Time, l *Limits) *Session {
	s := &Session{ID: newID(), FD: fd, Remote: remote, ConnectedAt: now, conn: conn, limits: l}
	s.state.Store(int32(Handshaking))
	s.lastSeen.Store(now.UnixNano())
	return s
}

func newID() string {
	var b [9]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on Linux
	return "s" + hex.EncodeToString(b[:])
}

// State returns the session's state.
func (s *Session) State() State { return State(s.state.Load()) }

// Activate marks the handshake done for user.
func (s *Session) Activate(user string) {
	s.mu.Lock()
	s.user = user
	s.mu.Unlock()
	if s.state.CompareAndSwap(int32(Handshaking), int32(Active)) {
		s.active.Store(true)
	}
}

// Activated reports whether the session was ever welcomed.
func (s *Session) Activated() bool { return s.active.Load() }

// User returns the authenticated user ("" while handshaking).
func (s *Session) User() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

// Seen records input at now.
func (s *Session) Seen(now time.Time) { s.lastSeen.Store(now.UnixNano()) }

// LastSeen returns when input last arrived.
func (s *Session) LastSeen() time.Time { return time.Unix(0, s.lastSeen.Load()) }

// AddAbuse adds one to the abuse score, restarting the count when window has
// passed since the count began, and returns the score. Only the session's
// reader calls it.
func (s *Session) AddAbuse(now time.Time, window time.Duration) int {
	s.abuseWindow.Store(int64(window))
	start := s.abuseAt.Load()
	if start == 0 || now.UnixNano()-start > int64(window) {
		s.abuseAt.Store(now.UnixNano())
		s.abuse.Store(0)
	}
	return int(s.abuse.Add(1))
}

// Abuse returns the abuse score of the current window (0 once the window
// of the last error has passed).
func (s *Session) Abuse() int {
	if time.Now().UnixNano()-s.abuseAt.Load() > s.abuseWindow.Load() {
		return 0
	}
	return int(s.abuse.Load())
}

// Groups returns a copy of the groups joined.
func (s *Session) Groups() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.groups)
}

// InGroup reports whether the session has joined g.
func (s *Session) InGroup(g string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.groups, g)
}

// AddGroup records g as joined; false if it already was.
func (s *Session) AddGroup(g string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.groups, g) {
		return false
	}
	s.groups = append(s.groups, g)
	return true
}

// RemoveGroup forgets g; false if it was not joined.
func (s *Session) RemoveGroup(g string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.groups, g)
	if i < 0 {
		return false
	}
	s.groups = slices.Delete(s.groups, i, i+1)
	return true
}

// SetLocation records the last known location.
func (s *Session) SetLocation(l wire.Location) {
	s.mu.Lock()
	s.loc, s.hasLoc = l, true
	s.mu.Unlock()
}

// Location returns the last known location, if any.
func (s *Session) Location() (wire.Location, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loc, s.hasLoc
}

// CloseReason returns why the session closed or is closing ("" if not).
func (s *Session) CloseReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}
