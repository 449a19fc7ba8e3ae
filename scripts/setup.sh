#!/usr/bin/env bash
# Create .venv with the pinned ROS 2 Kilted + RL environment and build the colcon workspace.
# Idempotent: re-running with nothing changed takes seconds.
#
#   bash scripts/setup.sh            # install (if needed) and build
#   SAFE_PE_SKIP_BUILD=1 bash scripts/setup.sh   # install only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SAFE_PE_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
cd "$ROOT"

log() { printf '[setup] %s\n' "$*" >&2; }

# 1. Virtual environment with pinned requirements (re-installed only when requirements change).
stamp="$VENV/.safe_pe_requirements.sha256"
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "installing pinned requirements (first time: about 90 s)"
  # setuptools stays < 80 in every pip call: colcon's --symlink-install needs it.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip \
    'setuptools>=77.0.3,<80' 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt \
    'setuptools>=77.0.3,<80' 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  # The message wheels' CMake exports name the wheel builder's interpreter; point them at ours.
  py_inc="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  np_inc="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
  find "$VENV/share" -name '*.cmake' -print0 | xargs -0 grep -l '/opt/python/cp311-cp311' \
    | while read -r f; do
        sed -i -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_inc#g" \
               -e "s#/opt/python/cp311-cp311/include/python3.11#$py_inc#g" "$f"
      done || true
  echo "$want" > "$stamp"
else
  log "requirements up to date"
fi

# 2. Build the workspace (the venv is the ament prefix the interfaces build against).
if [[ "${SAFE_PE_SKIP_BUILD:-0}" != "1" ]]; then
  export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export PATH="$VENV/bin:$PATH"
  log "colcon build"
  mkdir -p "$ROOT/log"
  exec 9>"$ROOT/log/.build.lock"
  flock 9   # one build at a time in this checkout
  "$VENV/bin/colcon" --log-base "$ROOT/log" build --symlink-install \
    --base-paths "$ROOT/src" --build-base "$ROOT/build" --install-base "$ROOT/install" \
    --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
    --event-handlers console_cohesion- summary- status- >/dev/null 2>"$ROOT/log/build.stderr" \
    || { log "colcon build failed; see $ROOT/log/latest_build"; exit 1; }
fi
log "ready: source scripts/env.sh to use the workspace"
