"""No simulator or training module imports the filter node's ``safe_pe_cbf.ros`` package.

Shared ROS helpers live in the neutral ``safe_pe_cbf.ros_common`` (docs/architecture.md);
this reads every module's imports (no import is executed), so it also holds without rclpy.
"""

from __future__ import annotations

import ast
from pathlib import Path

import safe_pe_sim
import safe_pe_training

FORBIDDEN = "safe_pe_cbf.ros"


def _imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_sim_and_training_import_no_filter_node_module():
    offenders = []
    for package in (safe_pe_sim, safe_pe_training):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            offenders += [f"{path.relative_to(root.parent)}: {name}"
                          for name in _imported_modules(path)
                          if name == FORBIDDEN or name.startswith(FORBIDDEN + ".")]
    assert not offenders, ("import these from safe_pe_cbf.ros_common (or a ROS-free core) "
                           "instead: " + ", ".join(offenders))
