package wire

import (
	"bytes"
	"errors"
)

// ErrLineTooLong is returned by [Split] when the first max bytes of the
// buffer hold no '\n': the line, terminator included, would exceed max
// bytes. The protocol answers it with [CodeLineTooLong] and closes.
var ErrLineTooLong = errors.New("wire: line too long")

// Split returns the first complete line of buf without its terminator ("\n",
// and one "\r" right before it) and n, the number of bytes it consumed,
// terminator included. Only that one "\r" is removed: any other "\r" stays
// in the line (and is JSON whitespace to [Decode]).
//
// A line is at most max bytes, terminator included: a '\n' at index max-1
// is accepted, and if the first max bytes of buf hold no '\n', Split returns
// ErrLineTooLong. Otherwise, when buf holds no '\n' yet, Split returns
// n == 0 and a nil error (then len(buf) < max): read more and call again.
// Split never reads past buf[max-1]. A max <= 0 admits no line at all:
// every call returns ErrLineTooLong.
//
// An empty line is returned as a non-nil empty slice with n >= 1; the
// protocol ignores empty lines, so the caller skips it (and does not pass it
// to [Decode]).
//
// The returned line aliases buf (its capacity ends at the line, so an append
// to it cannot overwrite the rest of buf). It is valid as long as buf is.
func Split(buf []byte, max int) (line []byte, n int, err error) {
	if max <= 0 {
		return nil, 0, ErrLineTooLong
	}
	window := buf
	if len(window) > max {
		window = window[:max]
	}
	i := bytes.IndexByte(window, '\n')
	if i < 0 {
		if len(buf) >= max {
			return nil, 0, ErrLineTooLong
		}
		return nil, 0, nil
	}
	end := i
	if end > 0 && buf[end-1] == '\r' {
		end--
	}
	return buf[:end:end], i + 1, nil
}
