// Package deploytest checks compassd's deployment artefacts against the
// program itself: the Dockerfile (pins, user, ports, BuildKit's linter, and
// a build with exactly its flags through .dockerignore), and every
// Kustomize overlay under deploy/k8s (strictly decoded into the Kubernetes
// API types; flags, ports and probes matched against pkg/config and a
// running compassd; monitoring objects identical to deploy/grafana and
// deploy/prometheus).
//
// It holds only tests, and is a module of its own so that Kustomize,
// Kubernetes' API types and BuildKit stay out of compassd's go.mod. Run it
// from this directory: go test ./... (make deploy-test). Tests build
// compassd and start it on loopback ports; they share nothing else.
package deploytest
