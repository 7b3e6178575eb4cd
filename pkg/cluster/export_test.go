package cluster

// Crash drops the node's NATS connection without a bye, as a killed
// process would; Close still ends the node's goroutines afterwards.
func (n *Node) Crash() { n.nc.Close() }

// GroupSubject is the subject of group g under prefix.
func GroupSubject(prefix, g string) string { return newSubjects(prefix).group(g) }
