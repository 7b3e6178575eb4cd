package sniff

import (
	"slices"
	"testing"
)

func TestClassNames(t *testing.T) {
	want := []string{"ucompass", "proxy", "http", "http2", "tls", "ssh", "rdp",
		"smb", "redis", "text", "binary", "empty", "timeout"}
	var got []string
	for _, c := range Classes() {
		got = append(got, c.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Classes() names = %q, want protocol.md's %q", got, want)
	}
	for _, c := range Classes() {
		t.Run(c.String(), func(t *testing.T) {
			if p, ok := ParseClass(c.String()); !ok || p != c {
				t.Errorf("ParseClass(%q) = %v, %v, want %v, true", c.String(), p, ok, c)
			}
		})
	}
}

func TestClassOddValues(t *testing.T) {
	if s := Undecided.String(); s != "undecided" {
		t.Errorf("Undecided.String() = %q", s)
	}
	if s := Class(200).String(); s != "Class(200)" {
		t.Errorf("Class(200).String() = %q", s)
	}
	for _, s := range []string{"undecided", "", "HTTP", "Class(200)", "tls "} {
		if c, ok := ParseClass(s); ok || c != Undecided {
			t.Errorf("ParseClass(%q) = %v, %v, want undecided, false", s, c, ok)
		}
	}
}

func TestClassesIsACopy(t *testing.T) {
	Classes()[0] = Timeout
	if Classes()[0] != UCompass {
		t.Fatal("modifying the result of Classes() changed the next result")
	}
}
