#!/usr/bin/env bash
# Runs every Go fuzz target in the module briefly ($1 executions each, default
# 2000x), one at a time, so that `make test` exercises the fuzzers on every run.
# The budget is a count rather than a duration: with a duration, Go's fuzz
# coordinator can report a spurious "context deadline exceeded" failure on a
# loaded machine (golang/go#75804).
set -euo pipefail
fuzztime=${1:-2000x}
cd "$(git rev-parse --show-toplevel)"

git ls-files '*_test.go' | while read -r f; do
  { grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$f" || true; } | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/' |
    while read -r name; do echo "./$(dirname "$f") $name"; done
done | sort -u | while read -r pkg name; do
  echo "fuzz: $pkg $name ($fuzztime)"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/openkvs-fuzz.log 2>&1 || {
    cat /tmp/openkvs-fuzz.log
    exit 1
  }
done
