// Package proxyproto parses PROXY protocol headers, version 1 (text) and
// version 2 (binary), as HAProxy's proxy-protocol.txt defines them: the
// header a TLS-terminating load balancer prepends to a TCP stream to tell
// the server who the client is.
//
// It is a pure parser: [Parse] looks at bytes it is given and does no I/O,
// keeps no state and starts no goroutines, so the caller decides where the
// bytes come from and how long to wait for them. A truncated header that
// is valid so far is [ErrNeedMore]; the caller buffers and calls again with
// more bytes, never holding more than [MaxLen]. Once a prefix is rejected
// no suffix can make it valid, so a caller may close at the first error.
//
// Whether a header may be believed is not this package's business: only
// headers from trusted proxies should be parsed at all (package dataplane
// checks the peer against --trusted-proxies first).
//
// # Concurrency
//
// Parse is safe to call from any goroutine; it only reads b during the call
// and never retains it.
package proxyproto
