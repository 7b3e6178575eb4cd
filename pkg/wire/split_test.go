package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		buf  string
		max  int
		line string
		n    int
		err  error
	}{
		{name: "empty buffer", buf: "", max: 10},
		{name: "no newline yet", buf: `{"type":"pi`, max: 64},
		{name: "lone CR is not a terminator", buf: "abc\r", max: 10},
		{name: "LF", buf: "abc\n", max: 10, line: "abc", n: 4},
		{name: "CRLF", buf: "abc\r\n", max: 10, line: "abc", n: 5},
		{name: "bare CR kept inside", buf: "a\rb\n", max: 10, line: "a\rb", n: 4},
		{name: "only one CR removed", buf: "abc\r\r\n", max: 10, line: "abc\r", n: 6},
		{name: "leading CR kept", buf: "\rabc\n", max: 10, line: "\rabc", n: 5},
		{name: "empty line LF", buf: "\n", max: 10, line: "", n: 1},
		{name: "empty line CRLF", buf: "\r\n", max: 10, line: "", n: 2},
		{name: "empty line before another", buf: "\nabc\n", max: 10, line: "", n: 1},
		{name: "first of several", buf: "ab\ncd\nef", max: 10, line: "ab", n: 3},
		{name: "newline at max-1", buf: "abc\n", max: 4, line: "abc", n: 4},
		{name: "CRLF ending at max-1", buf: "ab\r\n", max: 4, line: "ab", n: 4},
		{name: "newline at max", buf: "abcd\n", max: 4, err: ErrLineTooLong},
		{name: "CRLF with LF at max", buf: "abc\r\n", max: 4, err: ErrLineTooLong},
		{name: "max bytes without newline", buf: "abcd", max: 4, err: ErrLineTooLong},
		{name: "max-1 bytes without newline", buf: "abc", max: 4},
		{name: "newline far beyond max", buf: "abcdefgh\n", max: 4, err: ErrLineTooLong},
		{name: "short line then long tail", buf: "ab\ncdefghij", max: 3, line: "ab", n: 3},
		{name: "max 1 empty line", buf: "\n", max: 1, line: "", n: 1},
		{name: "max 1 one byte", buf: "a", max: 1, err: ErrLineTooLong},
		{name: "max 0", buf: "\n", max: 0, err: ErrLineTooLong},
		{name: "max 0 empty buffer", buf: "", max: 0, err: ErrLineTooLong},
		{name: "negative max", buf: "a\n", max: -1, err: ErrLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, n, err := Split([]byte(tt.buf), tt.max)
			if !errors.Is(err, tt.err) || n != tt.n || string(line) != tt.line {
				t.Fatalf("Split(%q, %d) = %q, %d, %v; want %q, %d, %v",
					tt.buf, tt.max, line, n, err, tt.line, tt.n, tt.err)
			}
			if n > 0 && line == nil {
				t.Errorf("empty line returned as nil")
			}
			if cap(line) != len(line) {
				t.Errorf("cap(line) = %d, want %d", cap(line), len(line))
			}
		})
	}
}

func TestSplitMultipleLines(t *testing.T) {
	buf := []byte("{\"type\":\"ping\"}\r\n\n\r\n{\"type\":\"join\",\"group\":\"g1\"}\n\rx\r\n{\"type\":\"lo")
	want := []string{`{"type":"ping"}`, "", "", `{"type":"join","group":"g1"}`, "\rx"}
	var got []string
	for {
		line, n, err := Split(buf, 64)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		got = append(got, string(line))
		buf = buf[n:]
	}
	if len(got) != len(want) {
		t.Fatalf("lines = %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
	if string(buf) != `{"type":"lo` {
		t.Errorf("rest = %q", buf)
	}
}

func TestSplitAliases(t *testing.T) {
	buf := []byte("abc\ndef\n")
	line, _, _ := Split(buf, 10)
	buf[0] = 'X'
	if string(line) != "Xbc" {
		t.Errorf("line does not alias buf: %q", line)
	}
	line = append(line, '!')
	if buf[3] != '\n' {
		t.Errorf("append to line overwrote the terminator")
	}
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte("U-Compass/1\n{\"type\":\"hello\",\"user\":\"alice\"}\n"), 4096)
	f.Add([]byte("abc\r\n"), 5)
	f.Add([]byte("abc\r\n"), 4)
	f.Fuzz(func(t *testing.T, buf []byte, max int) {
		max %= 1 << 13
		line, n, err := Split(buf, max)
		checkSplit(t, buf, max, line, n, err)
		// Bytes from index max on are never examined.
		if max > 0 && len(buf) > max {
			line2, n2, err2 := Split(buf[:max], max)
			if !bytes.Equal(line, line2) || n != n2 || err != err2 {
				t.Fatalf("Split looked past max: %q %d %v vs %q %d %v", line, n, err, line2, n2, err2)
			}
		}
	})
}

func checkSplit(t *testing.T, buf []byte, max int, line []byte, n int, err error) {
	t.Helper()
	switch {
	case err != nil:
		if err != ErrLineTooLong || n != 0 || line != nil {
			t.Fatalf("error %v with n %d, line %q", err, n, line)
		}
		if max > 0 && (len(buf) < max || bytes.IndexByte(buf[:max], '\n') >= 0) {
			t.Fatalf("ErrLineTooLong for %q, max %d", buf, max)
		}
	case n == 0:
		if line != nil || len(buf) >= max || bytes.IndexByte(buf, '\n') >= 0 {
			t.Fatalf("no line for %q, max %d (line %q)", buf, max, line)
		}
	default:
		if n > len(buf) || n > max || buf[n-1] != '\n' || bytes.IndexByte(buf[:n-1], '\n') >= 0 {
			t.Fatalf("n = %d for %q, max %d", n, buf, max)
		}
		want := buf[:n-1]
		want = bytes.TrimSuffix(want, []byte("\r"))
		if !bytes.Equal(line, want) || (len(line)+1 != n && len(line)+2 != n) {
			t.Fatalf("line = %q, n = %d for %q", line, n, buf)
		}
		if len(line) > 0 && &line[0] != &buf[0] {
			t.Fatalf("line does not alias buf")
		}
	}
}

func BenchmarkSplit(b *testing.B) {
	var buf []byte
	for range 64 {
		buf = append(buf, `{"type":"loc","lat":37.55,"lng":126.99,"acc":5,"ts":1732400000000}`+"\r\n"...)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		rest := buf
		for {
			_, n, err := Split(rest, 4096)
			if err != nil || n == 0 {
				break
			}
			rest = rest[n:]
		}
	}
}
