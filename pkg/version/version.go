// Package version holds the build's version, stamped by the linker
// (-X github.com/ucompass/compass/pkg/version.Version=...).
package version

import "runtime"

// Version is the release this binary was built from; "dev" when unstamped.
var Version = "dev"

// Go is the Go version the binary was built with.
func Go() string { return runtime.Version() }
