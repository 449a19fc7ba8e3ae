"""The one parameter-declaration helper (safe_pe_cbf.ros_common.params) on a real node."""

from __future__ import annotations

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed: run scripts/setup.sh")

from rclpy.parameter import Parameter  # noqa: E402

from safe_pe_cbf.ros_common.param_specs import ParamSpec  # noqa: E402
from safe_pe_cbf.ros_common.params import ParameterError, declare, declare_param  # noqa: E402
from safe_pe_cbf.ros_common.testing import isolated_context  # noqa: E402


@pytest.fixture()
def context(tmp_path, monkeypatch):
    yield from isolated_context(tmp_path, monkeypatch, salt=41)


def _node(context, *overrides: Parameter):
    return rclpy.create_node("params_probe", context=context,
                             parameter_overrides=list(overrides))


def test_declare_returns_checked_values(context):
    node = _node(context, Parameter("rate", value=10), Parameter("names", value=["a", "b"]))
    try:
        rate = declare(node, "rate", 20.0, "Hz.", min_value=0.5, max_value=200.0)
        assert rate == 10.0 and isinstance(rate, float), "an integer for a float is a float"
        assert declare(node, "names", ["x"], "Names.") == ["a", "b"]
        assert declare(node, "mode", "fast", "Mode.", choices=("fast", "slow")) == "fast"
        assert node.describe_parameter("rate").read_only
    finally:
        node.destroy_node()


@pytest.mark.parametrize("override, default, kwargs, match", [
    (300.0, 20.0, {"min_value": 0.5, "max_value": 200.0}, "above the maximum"),
    ("fast", 20.0, {}, "expected a number"),
    ("medium", "fast", {"choices": ("fast", "slow")}, "not one of"),
])
def test_declare_rejects_bad_values(context, override, default, kwargs, match):
    node = _node(context, Parameter("p", value=override))
    try:
        with pytest.raises(ParameterError, match=f"p: .*{match}"):
            declare(node, "p", default, "A parameter.", **kwargs)
    finally:
        node.destroy_node()


def test_declare_param_takes_a_spec_table_entry(context):
    node = _node(context)
    try:
        spec = ParamSpec("gains", (1.0, 2.0), "Gains.", min_value=0.0, array_kind="double")
        assert declare_param(node, spec) == [1.0, 2.0]
    finally:
        node.destroy_node()
