#!/bin/sh
# Runs the end-to-end suite: `npm ci`, then the tests.
#
# The WebRTC tests must stay on loopback. As root, where unshare(1) can
# create a network namespace, the tests run inside a fresh one that holds
# only the loopback interface, so neither Chromium nor openkvs can reach
# (or gather ICE candidates on) any other network. Otherwise (not root, or
# no user/network namespaces, e.g. in some containers) they run directly
# and rely on binding every listener to 127.0.0.1 and on Chromium's flags
# (see tests/browser.js).
#
# OPENKVS_BIN names the openkvs binary (default ../bin/openkvs). Arguments
# name the test files to run (default: all of tests/).
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
export OPENKVS_BIN="${OPENKVS_BIN:-$(cd .. && pwd)/bin/openkvs}"
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
	echo "e2e: running in a network namespace with only loopback"
	exec unshare -n sh -c 'ip link set lo up && exec node --test --test-concurrency=1 "$@"' sh "${@:-tests/}"
fi
echo "e2e: no network namespace (not root, no ip(8) or unshare refused); running directly on loopback addresses"
exec node --test --test-concurrency=1 "${@:-tests/}"
