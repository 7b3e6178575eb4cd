package session

import (
	"cmp"
	"container/list"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Page sizes of List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Errors of List and ParseOrder. The control plane maps every one of them
// to INVALID_ARGUMENT.
var (
	// ErrBadOrder is an order_by that is not a sort key, optionally
	// followed by " desc".
	ErrBadOrder = errors.New("bad order_by")
	// ErrBadPageSize is a negative page size.
	ErrBadPageSize = errors.New("bad page_size")
	// ErrBadPageToken is a page token that was not made by List, or was
	// made for other filters or another order.
	ErrBadPageToken = errors.New("bad page_token")
	// ErrPageTokenExpired is a page token whose snapshot the Pager no longer
	// holds (unused for longer than its TTL, or evicted for newer walks).
	ErrPageTokenExpired = errors.New("page_token expired")
)

// Key is what List sorts by.
type Key uint8

// Sort keys. ByConnected is the order in which sessions entered the table
// (Seq), which is their accept order; the others change as sessions live.
const (
	ByConnected Key = iota
	ByLastSeen
	ByAbuse
	ByMessagesIn
)

var keyNames = []string{ByConnected: "connected_at", ByLastSeen: "last_seen_at", ByAbuse: "abuse_score", ByMessagesIn: "messages_in"}

// Order is a sort key and a direction.
type Order struct {
	Key  Key
	Desc bool
}

// String returns the order as ParseOrder reads it.
func (o Order) String() string {
	if o.Desc {
		return keyNames[o.Key] + " desc"
	}
	return keyNames[o.Key]
}

// ParseOrder reads an order_by: "" (connected_at), or a key name optionally
// followed by " desc".
func ParseOrder(s string) (Order, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return Order{}, nil
	}
	if len(f) > 2 || (len(f) == 2 && f[1] != "desc") {
		return Order{}, fmt.Errorf("%w: %q (want a key optionally followed by \" desc\")", ErrBadOrder, s)
	}
	i := slices.Index(keyNames, f[0])
	if i < 0 {
		return Order{}, fmt.Errorf("%w: unknown key %q (want one of %s)", ErrBadOrder, f[0], strings.Join(keyNames, ", "))
	}
	return Order{Key: Key(i), Desc: len(f) == 2}, nil
}

// Filter selects sessions; zero fields match everything, set ones combine
// with AND.
type Filter struct {
	User   string
	Group  string
	Remote netip.Prefix // the client IP is in it; zero: any
	State  State        // as ShownState reports it; zero: any
}

// Match reports whether s passes the filter now.
func (f Filter) Match(s *Session) bool {
	switch {
	case f.State != 0 && s.ShownState() != f.State:
		return false
	case f.Remote.IsValid() && !f.Remote.Contains(s.Remote.Addr().Unmap()):
		return false
	case f.User != "" && s.User() != f.User:
		return false
	case f.Group != "" && !s.InGroup(f.Group):
		return false
	}
	return true
}

// ShownState is the state as operators see it: Closing as soon as the
// session is closing (a bye may still be in flight), before State reports
// it, which happens only once the connection is closed.
func (s *Session) ShownState() State {
	if st := s.State(); st == Closing || !s.Closing() {
		return st
	}
	return Closing
}

// Query is one List call: a filter, an order and a page.
type Query struct {
	Filter
	Order     Order
	PageSize  int    // 0: DefaultPageSize; above MaxPageSize: MaxPageSize
	PageToken string // "" for the first page
}

// fingerprint binds a page token to the filter and order it was made for.
func (q Query) fingerprint() uint64 {
	h := fnv.New64a()
	remote := ""
	if q.Remote.IsValid() {
		remote = q.Remote.String()
	}
	for _, s := range []string{q.User, q.Group, remote, strconv.Itoa(int(q.State)), q.Order.String()} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func (q Query) pageSize() (int, error) {
	switch {
	case q.PageSize < 0:
		return 0, fmt.Errorf("%w: %d is negative", ErrBadPageSize, q.PageSize)
	case q.PageSize == 0:
		return DefaultPageSize, nil
	}
	return min(q.PageSize, MaxPageSize), nil
}

// Page is one page of List.
type Page struct {
	Sessions      []*Session
	NextPageToken string // "" on the last page
	Total         int    // sessions matching the filter at the time of the call
}

// seqIndex finds the session with seq in ss, sorted by Seq.
func seqIndex(ss []*Session, seq uint64) (int, bool) {
	return slices.BinarySearchFunc(ss, seq, func(s *Session, seq uint64) int { return cmp.Compare(s.Seq, seq) })
}

// Pager answers List queries over a Table. Paging is stable under churn:
// a session that is in the table and matches the filter from the first
// page of a walk to its last is returned exactly once, whatever the order.
//
//   - ByConnected pages by keyset: a token holds the Seq of the last session
//     returned and the next page starts after it. Seq never changes, so the
//     walk needs no server state and its tokens never expire. Sessions that
//     open during an ascending walk appear on its later pages; a descending
//     walk never reaches them.
//   - The other keys change while sessions live, and a keyset on a changing
//     key would skip or repeat sessions whose key moved across the page
//     boundary. So the first page takes a snapshot of the Seqs of the
//     matching sessions in sort order, kept by the Pager, and a token holds
//     the snapshot's id and an offset into it. The order is the one at the
//     first page; sessions that open during the walk are not in it; sessions
//     that close (or stop matching the filter) are left out of later pages.
//     Snapshots live in a small LRU cache with a TTL counted from their last
//     use; a token whose snapshot is gone is ErrPageTokenExpired.
//
// Every page re-applies the filter, and Total counts the sessions matching
// it at the time of the call. A Pager is safe for concurrent use.
type Pager struct {
	t     *Table
	snaps *snapshots
}

// PagerOptions bound a Pager's snapshot cache; zero fields take the
// defaults (64 snapshots, 5 minutes, 4 Mi session entries in total, time.Now).
type PagerOptions struct {
	Snapshots  int
	TTL        time.Duration
	MaxEntries int
	Now        func() time.Time
}

// NewPager returns a Pager over t.
func NewPager(t *Table, o PagerOptions) *Pager {
	return &Pager{t: t, snaps: newSnapshots(o)}
}

// List returns one page of the sessions matching q, in q's order.
func (p *Pager) List(q Query) (Page, error) {
	size, err := q.pageSize()
	if err != nil {
		return Page{}, err
	}
	fp := q.fingerprint()
	var tok token
	if q.PageToken != "" {
		if tok, err = decodeToken(q.PageToken, fp); err != nil {
			return Page{}, err
		}
	}
	matching := p.t.Select(q.Filter.Match) // one read of the mutable state, sorted by Seq
	if q.Order.Key == ByConnected {
		return keysetPage(matching, q.Order.Desc, tok, size, fp)
	}
	return p.snapshotPage(matching, q.Order, tok, size, fp)
}

// keysetPage pages matching (sorted by Seq) by Seq.
func keysetPage(matching []*Session, desc bool, tok token, size int, fp uint64) (Page, error) {
	if tok.mode != modeNone && tok.mode != modeKeyset {
		return Page{}, fmt.Errorf("%w: made for another order", ErrBadPageToken)
	}
	ordered := matching // a fresh slice from Select: ours to reorder
	if desc {
		slices.Reverse(ordered)
	}
	start := 0
	if tok.mode == modeKeyset {
		start, _ = slices.BinarySearchFunc(ordered, tok.a, func(s *Session, seq uint64) int {
			if desc {
				return cmp.Compare(seq, s.Seq)
			}
			return cmp.Compare(s.Seq, seq)
		})
		if start < len(ordered) && ordered[start].Seq == tok.a {
			start++
		}
	}
	end := min(start+size, len(ordered))
	page := Page{Sessions: ordered[start:end:end], Total: len(matching)}
	if end < len(ordered) && end > start {
		page.NextPageToken = token{mode: modeKeyset, fp: fp, a: ordered[end-1].Seq}.encode()
	}
	return page, nil
}

// snapshotPage pages by a mutable key through a snapshot of the order at
// the first page. A walk that fits in one page keeps no snapshot.
func (p *Pager) snapshotPage(matching []*Session, o Order, tok token, size int, fp uint64) (Page, error) {
	var seqs []uint64
	var id uint64
	offset := 0
	switch tok.mode {
	case modeNone:
		seqs = sortedSeqs(matching, o)
	case modeSnapshot:
		snap := p.snaps.get(tok.a)
		if snap == nil || snap.fp != fp {
			return Page{}, fmt.Errorf("%w: start again without a token", ErrPageTokenExpired)
		}
		if tok.b > uint64(len(snap.seqs)) {
			return Page{}, fmt.Errorf("%w: offset out of range", ErrBadPageToken)
		}
		seqs, id, offset = snap.seqs, snap.id, int(tok.b)
	default:
		return Page{}, fmt.Errorf("%w: made for another order", ErrBadPageToken)
	}
	page := Page{Total: len(matching)}
	i := offset
	for ; i < len(seqs) && len(page.Sessions) < size; i++ {
		if j, ok := seqIndex(matching, seqs[i]); ok {
			page.Sessions = append(page.Sessions, matching[j])
		}
	}
	if anyLive(matching, seqs[i:]) {
		if id == 0 {
			id = p.snaps.put(fp, seqs).id
		}
		page.NextPageToken = token{mode: modeSnapshot, fp: fp, a: id, b: uint64(i)}.encode()
	}
	return page, nil
}

func anyLive(matching []*Session, seqs []uint64) bool {
	return slices.ContainsFunc(seqs, func(seq uint64) bool {
		_, ok := seqIndex(matching, seq)
		return ok
	})
}

// sortedSeqs returns the Seqs of ss in order o, ties broken by ID (in the
// same direction). Each key is read once, so the sort sees fixed values.
func sortedSeqs(ss []*Session, o Order) []uint64 {
	type item struct {
		key int64
		id  string
		seq uint64
	}
	items := make([]item, len(ss))
	for i, s := range ss {
		items[i] = item{key: sortKey(s, o.Key), id: s.ID, seq: s.Seq}
	}
	slices.SortFunc(items, func(a, b item) int {
		c := cmp.Or(cmp.Compare(a.key, b.key), strings.Compare(a.id, b.id))
		if o.Desc {
			return -c
		}
		return c
	})
	seqs := make([]uint64, len(items))
	for i, it := range items {
		seqs[i] = it.seq
	}
	return seqs
}

func sortKey(s *Session, k Key) int64 {
	switch k {
	case ByLastSeen:
		return s.lastSeen.Load()
	case ByAbuse:
		return int64(s.Abuse())
	case ByMessagesIn:
		return int64(min(s.MsgsIn.Load(), math.MaxInt64))
	}
	return int64(s.Seq)
}

// token is what a page token encodes: base64url of
// version, mode, fingerprint (8 bytes), then a and b as uvarints.
// Keyset: a is the last Seq returned. Snapshot: a is the snapshot id, b the
// offset of the next entry to look at.
type token struct {
	mode byte
	fp   uint64
	a, b uint64
}

const (
	tokenVersion = 1

	modeNone     = 0
	modeKeyset   = 1
	modeSnapshot = 2
)

func (t token) encode() string {
	b := make([]byte, 0, 2+8+2*binary.MaxVarintLen64)
	b = append(b, tokenVersion, t.mode)
	b = binary.BigEndian.AppendUint64(b, t.fp)
	b = binary.AppendUvarint(b, t.a)
	b = binary.AppendUvarint(b, t.b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken reads s and checks it was made for fingerprint fp.
func decodeToken(s string, fp uint64) (token, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 10 || b[0] != tokenVersion || (b[1] != modeKeyset && b[1] != modeSnapshot) {
		return token{}, fmt.Errorf("%w: not a page token", ErrBadPageToken)
	}
	t := token{mode: b[1], fp: binary.BigEndian.Uint64(b[2:10])}
	rest := b[10:]
	var n1, n2 int
	t.a, n1 = binary.Uvarint(rest)
	if n1 > 0 {
		t.b, n2 = binary.Uvarint(rest[n1:])
	}
	if n1 <= 0 || n2 <= 0 || n1+n2 != len(rest) {
		return token{}, fmt.Errorf("%w: not a page token", ErrBadPageToken)
	}
	if t.fp != fp {
		return token{}, fmt.Errorf("%w: made for other filters or another order_by", ErrBadPageToken)
	}
	return t, nil
}

// snapshot is the order of one walk by a mutable key.
type snapshot struct {
	id   uint64
	fp   uint64
	seqs []uint64
	used time.Time
}

// snapshots is an LRU cache of snapshots with a TTL from last use, bounded
// in count and in total entries.
type snapshots struct {
	max, maxEntries int
	ttl             time.Duration
	now             func() time.Time

	mu      sync.Mutex
	lru     *list.List // of *snapshot, most recently used first
	byID    map[uint64]*list.Element
	entries int
}

func newSnapshots(o PagerOptions) *snapshots {
	c := &snapshots{max: o.Snapshots, maxEntries: o.MaxEntries, ttl: o.TTL, now: o.Now,
		lru: list.New(), byID: map[uint64]*list.Element{}}
	if c.max <= 0 {
		c.max = 64
	}
	if c.maxEntries <= 0 {
		c.maxEntries = 4 << 20
	}
	if c.ttl <= 0 {
		c.ttl = 5 * time.Minute
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// put stores a new snapshot and evicts expired and least recently used ones
// beyond the bounds (never the new one).
func (c *snapshots) put(fp uint64, seqs []uint64) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &snapshot{fp: fp, seqs: seqs, used: c.now()}
	for s.id == 0 || c.byID[s.id] != nil {
		s.id = rand.Uint64()
	}
	c.byID[s.id] = c.lru.PushFront(s)
	c.entries += len(seqs)
	for e := c.lru.Back(); e != nil && e.Value != s; {
		prev := e.Prev()
		old := e.Value.(*snapshot)
		if c.lru.Len() > c.max || c.entries > c.maxEntries || c.expired(old) {
			c.removeLocked(e)
		}
		e = prev
	}
	return s
}

// get returns the snapshot id and marks it used, or nil if it is gone.
func (c *snapshots) get(id uint64) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.byID[id]
	if e == nil {
		return nil
	}
	s := e.Value.(*snapshot)
	if c.expired(s) {
		c.removeLocked(e)
		return nil
	}
	s.used = c.now()
	c.lru.MoveToFront(e)
	return s
}

func (c *snapshots) expired(s *snapshot) bool { return c.now().Sub(s.used) > c.ttl }

func (c *snapshots) removeLocked(e *list.Element) {
	s := c.lru.Remove(e).(*snapshot)
	delete(c.byID, s.id)
	c.entries -= len(s.seqs)
}
