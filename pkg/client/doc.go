// Package client speaks the U-Compass wire protocol (version 1) over TCP.
// It is the client side used by the server's integration tests and by the
// load tool, which runs thousands of clients in one process.
//
// # Concurrency contract
//
// Every method of a *Client is safe for concurrent use. Each Client owns
// exactly one goroutine, its reader, started by Dial and ended by EOF, a
// read error, a protocol violation or Close; no other goroutine is started
// per client or per message. The reader:
//
//   - reads one line at a time through a small bufio.Reader (lines longer
//     than its buffer are assembled up to Options.ReadLimit);
//   - decodes it into a Message (a hand-written fast path for flat objects
//     such as loc and presence, encoding/json for anything else);
//   - hands a reply whose numeric id matches a pending request to that
//     request, and sends everything else to the Messages channel.
//
// The send to Messages blocks when the channel is full. That is deliberate:
// a client that does not drain its inbox stops reading its socket, which is
// how tests create slow consumers. While it is blocked, replies to pending
// requests are not routed either, so requests wait too. Close always
// unblocks it.
//
// Writes go through one lock, so a line is never interleaved with another.
// Requests that carry an id (Join, Leave, Ping, Loc) take ids 1, 2, 3, ...
// in the order they are written, so ids on the wire are increasing.
//
// # Lock order
//
// wlock (writes, id allocation) before mu (pending requests, the reader's
// end state). The reader takes only mu.
//
// # Replies are never lost
//
// Every reply is either returned by the request that carries its id or, if
// that request has given up (its context ended), delivered to Messages.
//
// # Memory
//
// A Client holds a 4 KiB read buffer and a Messages channel of
// Options.Inbox slots of about 270 bytes each (about 270 KiB at the default
// 1024); a load tool with many clients should choose a smaller Inbox. A
// received loc costs three allocations: the Raw copy, one string holding
// every string field, and one block holding every number.
package client
