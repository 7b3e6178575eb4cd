package client

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchDial connects a client to a fake server that leaves the connection
// to the benchmark.
func benchDial(b *testing.B) (*Client, *serverConn) {
	b.Helper()
	s := newFakeServer(b)
	s.manual = true
	c, err := Dial(context.Background(), s.Addr(), Options{User: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c, <-s.conns
}

// BenchmarkReceiveLoc measures the reader: loc pushes arrive over loopback
// as fast as the server can write them, and are taken from Messages.
func BenchmarkReceiveLoc(b *testing.B) {
	c, sc := benchDial(b)
	var lines strings.Builder
	for i := range 64 {
		fmt.Fprintf(&lines, `{"type":"loc","group":"g1","user":"bob","lat":37.55,"lng":126.99,"acc":5,"ts":%d,"sts":%d}`+"\n", 1732400000000+i, 1732400000123+i)
	}
	batch := []byte(lines.String())
	writerDone := make(chan struct{})
	go func() { // ends when the client closes
		defer close(writerDone)
		for {
			if _, err := sc.Write(batch); err != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	b.SetBytes(int64(len(batch) / 64))
	for b.Loop() {
		if m := <-c.Messages(); m.Lat == nil {
			b.Fatalf("bad message %s", m.Raw)
		}
	}
	c.Close()
	<-writerDone
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"loc", "presence", "joined"} {
		line := []byte(map[string]string{
			"loc":      decodeSeeds[4],
			"presence": decodeSeeds[5],
			"joined":   decodeSeeds[0],
		}[name])
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decode(line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLocNoAck measures the send path over loopback to a server that
// discards what it reads.
func BenchmarkLocNoAck(b *testing.B) {
	c, sc := benchDial(b)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		io.Copy(io.Discard, sc)
	}()
	l := Loc{Lat: 37.55, Lng: 126.99, Acc: new(5.0), TS: new(int64(1732400000000))}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.LocNoAck(l); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	<-readerDone
}
