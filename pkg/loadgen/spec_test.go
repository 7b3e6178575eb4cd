package loadgen

import (
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSplitKeepsGroupsWhole(t *testing.T) {
	s := Spec{Idle: 10, Groups: 7, Members: 3, Churn: 5, ChurnRate: 100}
	parts := Split(s, 3)
	var idle, groups, churn int
	var rate float64
	for i, p := range parts {
		if p.IdleFirst != idle || p.GroupFirst != groups {
			t.Errorf("part %d starts at idle %d group %d, want %d %d", i, p.IdleFirst, p.GroupFirst, idle, groups)
		}
		idle += p.IdleN
		groups += p.GroupN
		churn += p.ChurnN
		rate += p.ChurnRateN
	}
	if idle != 10 || groups != 7 || churn != 5 || rate != 100 {
		t.Errorf("split sums to idle %d groups %d churn %d rate %v", idle, groups, churn, rate)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Scenario: "x", Addr: "a", Duration: time.Second}, `unknown scenario "x"`},
		{Spec{Scenario: ScenarioIdle, Addr: "a", Duration: time.Second}, "--sessions must be positive"},
		{Spec{Scenario: ScenarioFanout, Addr: "a", Groups: 1, Members: 1, Rate: 1, Duration: time.Second}, "--members >= 2"},
		{Spec{Scenario: ScenarioChurn, Addr: "a", Churn: 1}, "--duration must be positive"},
		{Spec{Scenario: ScenarioMixed, Addr: "a", Duration: time.Second}, "nothing to do"},
	} {
		if err := tc.spec.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.spec, err, tc.want)
		}
	}
}

// Snapshot, Add and Sub match fields by name: every counter must have
// its snapshot field and the other way round.
func TestSnapshotCoversCounters(t *testing.T) {
	ct, st := reflect.TypeOf(Counters{}), reflect.TypeOf(Snapshot{})
	if ct.NumField() != st.NumField() {
		t.Fatalf("%d counters, %d snapshot fields", ct.NumField(), st.NumField())
	}
	var c Counters
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		v.Field(i).Addr().Interface().(*atomic.Int64).Store(int64(i + 1))
	}
	s := c.Snapshot()
	sv := reflect.ValueOf(s)
	for i := range ct.NumField() {
		if got := sv.FieldByName(ct.Field(i).Name).Int(); got != int64(i+1) {
			t.Errorf("%s = %d, want %d", ct.Field(i).Name, got, i+1)
		}
	}
	d := s
	d.Add(s)
	if d.Sub(s) != s {
		t.Error("Add then Sub is not the identity")
	}
}

func TestHistRoundTrip(t *testing.T) {
	h := NewHist()
	for i := range 1000 {
		h.Record(i, time.Duration(i+1)*time.Microsecond)
	}
	back, err := Encode(h.Merged()).Decode()
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(back)
	if s.Count != 1000 || s.P50 < 499 || s.P50 > 501 || s.Max < 999 || s.Max > 1001 {
		t.Errorf("summary %+v", s)
	}
}

func TestSquashDigits(t *testing.T) {
	got := squashDigits("dial tcp 127.0.0.2:40123->127.0.0.1:9000: connect: refused")
	if want := "dial tcp N.N.N.N:N->N.N.N.N:N: connect: refused"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
