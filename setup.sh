#!/usr/bin/env bash
# Sets everything up, then runs what you ask for:
#   ./setup.sh demo [ARGS]   the built-in demo (a window, or a video file when there is no display)
#   ./setup.sh test [ARGS]   the test suite (pytest; extra ARGS go to pytest)
#   ./setup.sh               set up only
# Creates or reuses .venv at the repo root. Installs system packages with apt-get on Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  libportaudio2 libsndfile1                                  # sounddevice, soundfile
  libegl1 libgl1 libgles2 libegl-mesa0 libgl1-mesa-dri xvfb  # OpenGL, headless through EGL
  pulseaudio pulseaudio-utils libasound2-plugins             # virtual audio device for the tests
  liblo-tools jackd2 libjack-jackd2-0                        # OSC and MIDI peers for the tests
  dbus avahi-daemon iproute2 util-linux                      # loopback-only network namespaces (Link, NDI with mDNS)
  gcc python3-dev python3-venv                               # aubio builds from source
)
# torch pinned to a release that pip finds as a CPU build where no GPU is present; set TORCH_SPEC
# to choose another (for example "torch" for the newest CUDA build on a GPU machine).
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PYTHON=${PYTHON:-python3}

install_system_packages() {
  command -v apt-get >/dev/null || { echo "setup: no apt-get; install PortAudio, libsndfile, Mesa/EGL yourself" >&2; return 0; }
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python_packages() {
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  local stamp=.venv/.installed-$(cat pyproject.toml setup.sh | sha256sum | cut -c1-16)
  [ -f "$stamp" ] && return 0
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip wheel setuptools
  .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "$TORCH_SPEC"
  .venv/bin/python -m pip install -q -e ".[test]"
  # BeatNet's CRNN (--beat-activation beatnet, --downbeat learned; weights CC BY 4.0): its declared
  # dependencies pin numba 0.54.1, which does not install on Python 3.11, and pyaudio, which only
  # its microphone mode uses; what the model needs (torch, madmom, numpy) is installed above.
  .venv/bin/python -m pip install -q --no-deps BeatNet==1.1.3
  rm -f .venv/.installed-* && touch "$stamp"
}

install_system_packages
install_python_packages

case "${1:-}" in
  demo) shift; exec .venv/bin/python run_live.py demo "$@" ;;
  test) shift
    # A test that hangs is ended by tests/conftest.py after HANG_S, its threads' stacks in this file.
    export LIVE_TEST_HANG_LOG="${TMPDIR:-/tmp}/live-test-hang-$$.txt"
    rc=0; .venv/bin/python -m pytest -q "$@" || rc=$?
    [ -s "$LIVE_TEST_HANG_LOG" ] && { echo "setup: a test hung; its threads:" >&2; cat "$LIVE_TEST_HANG_LOG" >&2; }
    rm -f "$LIVE_TEST_HANG_LOG"
    exit "$rc" ;;
  "") echo "setup: done. Next: ./setup.sh demo, or .venv/bin/python run_live.py --help" ;;
  *) echo "usage: ./setup.sh [demo|test] [ARGS]" >&2; exit 2 ;;
esac
