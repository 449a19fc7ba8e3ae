#!/usr/bin/env bash
# The main job: set up (idempotent), then a short safe self-play training (run A) with the
# live ROS graph (simulator, a CBF filter per robot, policy nodes, metrics node) in one
# process, ending with the safety-target report. Extra arguments go to safe_pe_stack, e.g.
#   bash scripts/run_main.sh --budget 20000 --run-dir runs/my_run
set -eo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$ROOT/log/ros}"
export MPLBACKEND=Agg
exec python -m safe_pe_training.ros.stack --config "$ROOT/config/stack.yaml" "$@"
