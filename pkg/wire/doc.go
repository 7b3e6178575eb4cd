// Package wire is the line codec and the message codec of the U-Compass wire
// protocol, version 1 (protocol.md): it splits a byte stream into lines
// ([Split]), parses and validates one client line into a [Request]
// ([Decode]), and appends server messages to a byte slice (the Append*
// functions).
//
// # Concurrency contract
//
// Everything here is a pure function: no I/O, no goroutines, no package
// state that changes after init. Any function may be called from any number
// of goroutines at once, provided the caller does not mutate a slice while
// a call reads it.
//
// # Memory ownership
//
//   - [Split] returns a line that aliases its input buffer; the line dies
//     when the caller reuses or releases that buffer (for example a netpoll
//     Reader after Release).
//   - [Decode] never retains or aliases its input: a [Request] and an
//     [Error] own all of their memory (strings are copies, ID is a copy), so
//     they may outlive the line and be handed to other goroutines.
//   - The Append* functions only append to the slice they are given and
//     return it; they keep no reference to any argument.
//
// No input of any kind makes [Split] or [Decode] panic; both are fuzzed
// (FuzzSplit, FuzzDecode).
//
// # Server messages
//
// Each Append function appends exactly one message, a valid JSON object
// terminated by '\n', to b and returns the extended slice. Fields are
// written in protocol.md's order, "type" first. The functions never fail and
// allocate only to grow b: none at all into a buffer with room.
//
// Strings (user, group and session ids, messages, reasons) are untrusted and
// always escaped: '"', '\\' and control characters are escaped, as are
// U+2028 and U+2029, and each byte of invalid UTF-8 becomes U+FFFD (as with
// encoding/json).
//
// An id argument is echoed verbatim: it must be nil (or empty), meaning no
// "id" field, or a JSON string or number literal such as Request.ID or
// Error.ID, which Decode guarantees.
//
// Floats are written as encoding/json writes them (the shortest form that
// round-trips: 37.55, 5, 1e-7, 1e+21). Callers never pass NaN or ±Inf
// (Decode never produces them); were one passed, null would be written so
// that the line stays valid JSON.
package wire
