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
  # browser tests (driven by Python playwright with executable_path, never its own download)
  chromium
  # the network lab (tests/lab): namespaces, NAT and firewalls, and a probe of its hosts
  iproute2 nftables curl
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
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
