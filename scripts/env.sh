# Source me: activates .venv and the built workspace (bash).
#   source scripts/env.sh
_safe_pe_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_safe_pe_venv="${SAFE_PE_VENV:-$_safe_pe_root/.venv}"
# shellcheck disable=SC1091
source "$_safe_pe_venv/bin/activate"
export AMENT_PREFIX_PATH="$_safe_pe_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
if [[ -f "$_safe_pe_root/install/setup.bash" ]]; then
  set +u
  # shellcheck disable=SC1091
  source "$_safe_pe_root/install/setup.bash"
fi
# Console entry points (ament installs them in install/<pkg>/lib/<pkg> for `ros2 run`): put
# them on PATH so `safe_pe_train`, `safe_pe_stack`, ... work without the ros2 CLI.
for _safe_pe_bin in "$_safe_pe_root"/install/safe_pe_*/lib/safe_pe_*; do
  [[ -d "$_safe_pe_bin" ]] && PATH="$_safe_pe_bin:$PATH"
done
export PATH
unset _safe_pe_bin
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
unset _safe_pe_root _safe_pe_venv
