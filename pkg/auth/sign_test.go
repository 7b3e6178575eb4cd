package auth

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestSignHS256(t *testing.T) {
	file := []byte(testSecret + "\n") // as read from a key file
	v := mustVerifier(t, HS256, file)
	for _, tc := range []struct {
		name   string
		groups []string
		ttl    time.Duration
		want   []string
		err    error
	}{
		{"groups", []string{"g1", "g2"}, time.Hour, []string{"g1", "g2"}, nil},
		{"nil groups", nil, time.Minute, []string{}, nil},
		{"expired", nil, -time.Hour, nil, ErrExpired},
		{"expired within leeway", nil, -Leeway / 2, []string{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := SignHS256(file, "alice", tc.groups, tc.ttl)
			if err != nil {
				t.Fatal(err)
			}
			id, err := v.Verify(tok)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Verify err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.User != "alice" || !reflect.DeepEqual(id.Groups, tc.want) {
				t.Errorf("identity = %+v, want alice %q", id, tc.want)
			}
			if d := time.Until(id.Expiry) - tc.ttl; d > 0 || d < -2*time.Second {
				t.Errorf("expiry %v is not ttl %v from now", id.Expiry, tc.ttl)
			}
		})
	}
}

func TestSignHS256Errors(t *testing.T) {
	for _, tc := range []struct {
		name, secret, user, want string
	}{
		{"short secret", "tiny-secret", "alice", "HS256 secret is 11 bytes, too short: need at least 32"},
		{"empty user", testSecret, "", "sign HS256 token: user is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := SignHS256([]byte(tc.secret), tc.user, nil, time.Hour)
			if err == nil || err.Error() != tc.want {
				t.Errorf("SignHS256 = %q, %v; want error %q", tok, err, tc.want)
			}
		})
	}
}
