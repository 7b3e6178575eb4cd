// Package admin is the gRPC control plane of compassd: the
// compass.admin.v1.AdminService (proto/compass/admin/v1/admin.proto, whose
// comments are the contract), next to the standard grpc.health.v1.Health
// service and server reflection, on --admin-listen.
//
// It reads and steers the data plane only through the parts they share:
// the session.Table (through a session.Pager for ListSessions), the
// ban.List, the sniff.Stats, the events.Bus, the hub.Hub, and two small
// interfaces of its own, Kicker and Readiness, that dataplane.Server
// satisfies. It never imports the data plane.
//
// # Concurrency
//
// Every RPC runs on its own gRPC goroutine and may run concurrently with
// the others and with the data plane: the shared parts are safe for
// concurrent use, and a kick only queues a bye on the session's single
// write path. The control plane holds no lock of its own across calls
// (session.Pager guards its snapshot cache itself).
//
// Nothing here ever makes the data plane wait. WatchEvents subscribes to
// the bus with a bounded buffer, which Publish fills without blocking, and
// the handler moves events into a second bounded queue read by one sender
// goroutine per stream, the only goroutine that calls Send (which blocks
// on HTTP/2 flow control when the client does not read). Whichever buffer
// overflows first ends the stream with RESOURCE_EXHAUSTED and counts it in
// compass_admin_watchers_dropped_total. A watcher that stops reading costs
// the server two buffers, and the data plane nothing.
//
// # Lifecycle
//
// Run owns the gRPC server. While it serves, a goroutine copies the data
// plane's readiness into the health service every 100 ms. When Run's
// context ends, it stops as follows:
//
//  1. Health becomes NOT_SERVING at once.
//  2. Run waits until the data plane has drained (at most --drain-timeout
//     plus 2 s). The API keeps answering meanwhile, and watchers see the
//     drain's SESSION_CLOSED events.
//  3. WatchEvents streams get what is still queued and end with
//     UNAVAILABLE; health Watch streams end too, so no open stream can
//     hold up the stop.
//  4. GracefulStop runs, falling back to Stop after a timeout (5 s). A
//     stream whose client stops reading cannot end gracefully, because its
//     status waits behind unread data.
//  5. Run waits for the sender goroutines and returns.
//
// Every goroutine that Run or a handler starts has ended when Run returns.
//
// # Errors
//
// Handlers work with the sentinel errors of this package and of package
// session; toStatus maps them to gRPC codes, and nowhere else are codes
// chosen (except UNAUTHENTICATED in the interceptors, and the ends of
// streams: RESOURCE_EXHAUSTED and UNAVAILABLE).
//
// # Authentication
//
// Every AdminService call must carry `authorization: Bearer <token>`,
// compared in constant time; health and reflection are open, and with
// Dev the service is open too. The token is never logged.
//
// # Cluster
//
// With Deps.Cluster (cluster mode, docs/cluster.md), the RPCs that name
// sessions or bans reach every replica (cluster.go): each replica serves
// the others' requests with its own local handlers, the request and the
// answer being the RPC's protobuf messages and an error its
// google.rpc.Status. Answers that lack a replica say which in the response
// header (MDMissing). ListSessions then pages by key over a fresh gather
// per page (cluster_list.go) instead of the local snapshots.
package admin
