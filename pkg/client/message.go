package client

import (
	"encoding/json"
	"errors"
)

// ErrClosed is the reason the reader ended when Close or CloseRST was
// called; requests made after it return it too.
var ErrClosed = errors.New("client: closed")

// ErrProtocol wraps every way the server broke the protocol as this client
// reads it: a line that is not a JSON object with a type, a message other
// than welcome or error before welcome, or a reply of the wrong type.
var ErrProtocol = errors.New("client: protocol violation")

// ErrLineTooLong ends the reader when a line from the server is longer than
// Options.ReadLimit.
var ErrLineTooLong = errors.New("client: line from server too long")

// ErrNotFinite is returned by Loc and LocNoAck for a NaN or infinite value,
// which JSON cannot carry; write such lines with Send.
var ErrNotFinite = errors.New("client: loc values must be finite")

// Welcome is the server's answer to hello.
type Welcome struct {
	Session, User        string
	HeartbeatMS, MaxLine int
}

// Message is any server message, flattened: each type fills the fields it
// has. ID may share memory with Raw, and the pointers of one message may
// share one allocation; the client never touches a delivered Message.
type Message struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id,omitempty"`
	Group   string          `json:"group,omitempty"`
	User    string          `json:"user,omitempty"`
	Session string          `json:"session,omitempty"`
	Members []Member        `json:"members,omitempty"`
	Lat     *float64        `json:"lat,omitempty"`
	Lng     *float64        `json:"lng,omitempty"`
	Acc     *float64        `json:"acc,omitempty"`
	TS      *int64          `json:"ts,omitempty"`
	STS     *int64          `json:"sts,omitempty"`
	State   string          `json:"state,omitempty"` // presence
	Code    string          `json:"code,omitempty"`  // error
	Msg     string          `json:"msg,omitempty"`   // error, bye
	Reason  string          `json:"reason,omitempty"`
	// RetryAfterMS is bye's retry_after_ms; nil means "do not reconnect".
	RetryAfterMS *int64 `json:"retry_after_ms,omitempty"`
	HeartbeatMS  int    `json:"heartbeat_ms,omitempty"`
	MaxLine      int    `json:"max_line,omitempty"`
	// Raw is a copy of the line as received, without its final "\n".
	Raw []byte `json:"-"`
}

// Member is one entry of joined.members.
type Member struct {
	User string   `json:"user"`
	Lat  *float64 `json:"lat,omitempty"`
	Lng  *float64 `json:"lng,omitempty"`
	Acc  *float64 `json:"acc,omitempty"`
	TS   *int64   `json:"ts,omitempty"`
	STS  *int64   `json:"sts,omitempty"`
}

// ServerError is an error line from the server, returned by Dial and by the
// request methods when it is the reply.
type ServerError struct {
	Code, Msg string
}

func (e *ServerError) Error() string {
	if e.Msg == "" {
		return "client: server error " + e.Code
	}
	return "client: server error " + e.Code + ": " + e.Msg
}

// Is reports whether target is a *ServerError with the same Code (Msg is
// ignored), so that errors.Is(err, &ServerError{Code: "forbidden"}) works.
func (e *ServerError) Is(target error) bool {
	t, ok := target.(*ServerError)
	return ok && t.Code == e.Code
}

// Loc is a location to publish. Acc and TS are sent only when non-nil.
type Loc struct {
	Lat, Lng float64
	Acc      *float64
	TS       *int64
}
