// Package testinfra holds what the test-support packages below it share:
// the policy for a server binary that is not installed. Its subpackages
// start real servers for tests: pgtest (PostgreSQL) and s3test (SeaweedFS).
package testinfra

import (
	"os"
	"testing"
)

// RequireEnv is the environment variable that turns a missing server
// binary from a skip into a failure. The Makefile sets it, so that CI never
// skips the cluster tests silently.
const RequireEnv = "OPENKVS_REQUIRE_CLUSTER_DEPS"

// Missing skips t, or fails it when RequireEnv is set, because a server
// binary the test needs is not installed; why says how to install it.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s (%s is set, so this is an error, not a skip)", why, RequireEnv)
	}
	t.Skip(why)
}
