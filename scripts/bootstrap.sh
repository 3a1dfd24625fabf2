#!/usr/bin/env bash
# Installs everything Argus needs on a Debian 12 machine, idempotently:
#   - the Debian packages (GStreamer 1.22 + RTSP server, OpenCV 4.6 + clang for its bindings,
#     Mosquitto and PostgreSQL for the integration tests),
#   - Chromium and Node.js for the dashboard's browser test, and Playwright (playwright-core
#     only: it drives Debian's Chromium, no browser download) in triage/web/test/node_modules,
#   - a project-local virtualenv in .venv with ONNX Runtime 1.31.1 (its libonnxruntime.so is what
#     the Rust code loads) and what the Python scripts need.
# When everything is already present it only checks, and returns in well under 5 s.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf '\033[1mbootstrap:\033[0m %s\n' "$*" >&2; }

DEBIAN_PACKAGES=(
  pkg-config clang libclang-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp
  libopencv-dev
  mosquitto mosquitto-clients postgresql openssl curl
  python3-venv
  chromium
)
# Node.js ≥ 18 for Playwright: Debian's own unless one is already installed.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || DEBIAN_PACKAGES+=(nodejs npm)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  say "cargo is missing: install the Rust toolchain (rustup) first"
  exit 1
fi

# The Python virtualenv: re-created only when scripts/requirements.txt changes.
venv="$root/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum scripts/requirements.txt | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "setting up the Python virtualenv in .venv (onnxruntime and the scripts' needs)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/requirements.txt
  echo "$want" >"$stamp"
fi

# Playwright for the dashboard test: re-installed only when its lock file changes.
web="$root/triage/web/test"
want="$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$web/node_modules/.lock.sha256" 2>/dev/null)" != "$want" ]; then
  say "installing Playwright (playwright-core) for the dashboard test"
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$web/node_modules/.lock.sha256"
fi

ort_lib="$(ls "$venv"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* 2>/dev/null | head -n1 || true)"
if [ -z "$ort_lib" ]; then
  say "libonnxruntime.so not found in .venv after install; remove .venv and run again"
  exit 1
fi
