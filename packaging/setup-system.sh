#!/usr/bin/env bash
# Installs the Debian packages sfuctl needs (build and run the worker, node's npm to fetch it).
# Idempotent and quick when everything is there; apt-get runs only for what is missing.
set -euo pipefail

packages=(
  # worker build
  g++ pkg-config ninja-build patch flatbuffers-compiler
  libsrtp2-dev libabsl-dev libuv1-dev libflatbuffers-dev libssl-dev
  # Python venv (Debian's python3 needs it; a pyenv Python carries its own); python3-dev: the
  # native channel codec (with g++ and libflatbuffers-dev's headers)
  python3-venv python3-dev
  # HTTPS tests (curl --cacert against `sfuctl serve --tls`)
  curl
  # browser tests (driven by Python playwright with executable_path, never its own download)
  chromium
  # the network lab (tests/lab): namespaces, NAT and firewalls, and a probe of its hosts
  iproute2 nftables
  # the TURN server `sfuctl serve --turn` supervises (never run as a system service, see below)
  coturn
  # the cluster's shared state (`sfuctl serve --redis`); the tests start their own redis-server
  # on a free loopback port, so the system one must not run either (see below)
  redis-server
  # the recorder (gst-launch-1.0 with the RTP depayloaders, the WebM and Matroska muxers, and the
  # 'bad' plugins' h264parse for H264), and ffmpeg's ffprobe, which reads each recorded file's
  # duration (the tests decode the files with ffmpeg)
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad ffmpeg
)
command -v npm >/dev/null 2>&1 || packages+=(npm)
[ -n "${SFUCTL_EXTRA_APT:-}" ] && read -r -a extra <<<"$SFUCTL_EXTRA_APT" && packages+=("${extra[@]}")

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "[setup] installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq

# coturn's package starts and enables a system turnserver on 3478 on install, redis-server's a
# system redis on 6379; sfuctl runs its own turnserver as a child and the tests their own
# redis-server, so those must neither start (a policy-rc.d that refuses, for this install only)
# nor be enabled at boot.
services=()
for service in coturn redis-server; do
  [[ " ${missing[*]} " == *" $service "* ]] && services+=("$service")
done
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ${#services[@]} -gt 0 ] && [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# sfuctl set-up: no service starts while packages install\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 0755 "$policy"
  own_policy=1
fi
cleanup() { [ -z "$own_policy" ] || $sudo rm -f "$policy"; }
trap cleanup EXIT

$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for service in "${services[@]}"; do
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $sudo systemctl disable --now "$service.service" >/dev/null 2>&1 || true
  else
    command -v update-rc.d >/dev/null 2>&1 && $sudo update-rc.d "$service" disable >/dev/null 2>&1 || true
    [ -x "/etc/init.d/$service" ] && $sudo "/etc/init.d/$service" stop >/dev/null 2>&1 || true
  fi
done
