#!/usr/bin/env bash
# Installs what `make test` needs and a fresh Debian machine lacks: Debian
# packages (ffmpeg for media tests, chromium for browser tests, PostgreSQL
# for the pgstore tests) and Node.js
# for the end-to-end suite. Does nothing when everything is present.
set -euo pipefail

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v ip >/dev/null 2>&1 || need+=(iproute2)      # loopback-only namespace for WebRTC tests
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v curl >/dev/null 2>&1 || need+=(curl)             # scripts/cluster.sh creates its S3 bucket with curl
# GStreamer playbin (HLS/DASH demuxers, H.264 decoder) for the e2e player tests
command -v gst-launch-1.0 >/dev/null 2>&1 || need+=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "deps: missing ${need[*]} and not root; install them and rerun" >&2
    exit 1
  fi
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  # On a fresh machine unattended-upgrades often holds the dpkg lock: wait
  # for it (up to 10 minutes) instead of failing, and let apt's own output
  # show what is happening.
  lock=(-o DPkg::Lock::Timeout=600)
  echo "deps: missing ${need[*]}"
  echo "deps: [1/2] apt-get update (waits up to 10 min for another apt or dpkg to finish)"
  $SUDO apt-get "${lock[@]}" -q update
  echo "deps: [2/2] apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${lock[@]}" -q -y --no-install-recommends install "${need[@]}"
  echo "deps: installed ${need[*]}"
else
  echo "deps: nothing to install"
fi
