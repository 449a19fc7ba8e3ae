#!/usr/bin/env bash
# Set up (idempotent) and run every test of safe_pe: each package's pytest suite through
# `colcon test`, then the cross-package integration tests in tests/.
#
#   bash scripts/test.sh                 # everything (what CI runs)
#   bash scripts/test.sh -k filter       # extra args go to the integration pytest run
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh || { echo "setup failed" >&2; exit 1; }
# shellcheck disable=SC1091
source scripts/env.sh

# Keep DDS on this host and logs out of $HOME; tests pick their own ROS_DOMAIN_IDs.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_LOG_DIR="$ROOT/log/ros"
export MPLBACKEND=Agg
export PYTHONDONTWRITEBYTECODE=1
export OMP_NUM_THREADS=1

start=$(date +%s)
echo "== colcon test (package suites) =="
rm -rf "$ROOT/build"/*/pytest.xml "$ROOT/build"/*/test_results
colcon --log-base "$ROOT/log" test --base-paths "$ROOT/src" --build-base "$ROOT/build" \
  --install-base "$ROOT/install" --executor sequential --return-code-on-test-failure \
  --event-handlers console_direct+ summary- status- \
  --pytest-args -q -p no:cacheprovider
colcon_rc=$?
colcon test-result --test-result-base "$ROOT/build" --verbose
result_rc=$?

echo "== pytest tests/ (integration) =="
python -m pytest "$ROOT/tests" -q -p no:cacheprovider "$@"
integration_rc=$?

echo "== total $(( $(date +%s) - start )) s: colcon test rc=$colcon_rc," \
  "test-result rc=$result_rc, integration rc=$integration_rc =="
if (( colcon_rc != 0 || result_rc != 0 || integration_rc != 0 )); then
  exit 1
fi
