#!/usr/bin/env bash
# Builds the SeaweedFS `weed` binary once (the cluster tests run it as their
# S3-compatible object store) and caches it; prints the binary's path on the
# last line of stdout. Progress goes to stderr.
#
# With --background it starts the build (when the binary is not cached yet)
# and returns at once, so that `make test` builds SeaweedFS while apt
# installs packages; a later call waits for that build (a lock serializes
# them) and shows its log.
#
# The module is fetched through the Go module proxy at a pinned pseudo-version.
# `go install MOD@VERSION` refuses modules with replace directives, so the
# module is downloaded and built inside a writable copy of its directory.
set -euo pipefail

MODULE=github.com/seaweedfs/seaweedfs
VERSION=${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}
GO=${GO:-go}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/openkvs/weed-$VERSION
bin=$cache/weed

log() { echo "seaweedfs.sh: $*" >&2; }

if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache"
if [ "${1:-}" = --background ]; then
	log "building weed in the background (log: $cache/build.log)"
	nohup "$0" >"$cache/build.log" 2>&1 </dev/null &
	exit 0
fi

# One build at a time; a caller that waited finds the binary built.
exec 9>"$cache/lock"
if ! flock -n 9; then
	log "waiting for the build already under way (log: $cache/build.log)"
	flock 9
fi
if [ -x "$bin" ]; then
	[ -f "$cache/build.log" ] && sed 's/^/  | /' "$cache/build.log" >&2
	echo "$bin"
	exit 0
fi
log "downloading $MODULE@$VERSION"
dir=$("$GO" mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
	log "go mod download gave no module directory"
	exit 1
fi

src=$(mktemp -d "$cache/src.XXXXXX")
trap 'chmod -R u+w "$src" 2>/dev/null; rm -rf "$src"' EXIT
log "copying the module to $src"
cp -R "$dir/." "$src/"
chmod -R u+w "$src"

start=$(date +%s)
log "building weed (several minutes on a small machine)"
(cd "$src" && GOFLAGS=-mod=mod "$GO" build -o "$bin.tmp" ./weed)
mv "$bin.tmp" "$bin"
log "built in $(( $(date +%s) - start ))s: $bin"
echo "$bin"
