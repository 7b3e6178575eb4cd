package loadgen

import (
	"reflect"
	"sync/atomic"
)

// Counters are a worker's running totals; every field is safe for
// concurrent use.
type Counters struct {
	Connected  atomic.Int64 // long-lived sessions open now
	DialErrors atomic.Int64 // dials or handshakes that failed
	JoinErrors atomic.Int64
	Ended      atomic.Int64 // long-lived sessions the server ended

	Sent       atomic.Int64 // loc published
	SendErrors atomic.Int64
	Expected   atomic.Int64 // deliveries the sends call for
	Delivered  atomic.Int64 // loc received
	Reordered  atomic.Int64 // loc with a sequence number not above the last one from that sender
	Coarse     atomic.Int64 // deliveries timed from ts (ms) because the send-time slot had moved on
	Foreign    atomic.Int64 // loc from a user this worker does not know

	Presence     atomic.Int64 // presence received
	ServerErrors atomic.Int64 // error lines received
	Byes         atomic.Int64 // bye received

	Cycles      atomic.Int64 // churn: connect, handshake, join, close completed
	CycleErrors atomic.Int64
	Pings       atomic.Int64
	PingErrors  atomic.Int64
}

// Snapshot is Counters at one moment, as plain numbers.
type Snapshot struct {
	Connected  int64 `json:"connected"`
	DialErrors int64 `json:"dial_errors"`
	JoinErrors int64 `json:"join_errors"`
	Ended      int64 `json:"ended"`

	Sent       int64 `json:"sent"`
	SendErrors int64 `json:"send_errors"`
	Expected   int64 `json:"expected"`
	Delivered  int64 `json:"delivered"`
	Reordered  int64 `json:"reordered"`
	Coarse     int64 `json:"coarse"`
	Foreign    int64 `json:"foreign"`

	Presence     int64 `json:"presence"`
	ServerErrors int64 `json:"server_errors"`
	Byes         int64 `json:"byes"`

	Cycles      int64 `json:"cycles"`
	CycleErrors int64 `json:"cycle_errors"`
	Pings       int64 `json:"pings"`
	PingErrors  int64 `json:"ping_errors"`
}

// Snapshot reads every counter. Fields match by name, so adding a counter
// is one line in each struct.
func (c *Counters) Snapshot() Snapshot {
	var s Snapshot
	cv := reflect.ValueOf(c).Elem()
	sv := reflect.ValueOf(&s).Elem()
	for i := range sv.NumField() {
		f := cv.FieldByName(sv.Type().Field(i).Name).Addr().Interface().(*atomic.Int64)
		sv.Field(i).SetInt(f.Load())
	}
	return s
}

// Add sums o into s.
func (s *Snapshot) Add(o Snapshot) {
	sv := reflect.ValueOf(s).Elem()
	ov := reflect.ValueOf(o)
	for i := range sv.NumField() {
		sv.Field(i).SetInt(sv.Field(i).Int() + ov.Field(i).Int())
	}
}

// Sub returns s - o, field by field.
func (s Snapshot) Sub(o Snapshot) Snapshot {
	d := s
	dv := reflect.ValueOf(&d).Elem()
	ov := reflect.ValueOf(o)
	for i := range dv.NumField() {
		dv.Field(i).SetInt(dv.Field(i).Int() - ov.Field(i).Int())
	}
	return d
}

// Lost is how many expected deliveries did not arrive.
func (s Snapshot) Lost() int64 { return s.Expected - s.Delivered }
