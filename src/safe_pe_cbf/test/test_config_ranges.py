"""Every CBFConfig field has a declared range: out-of-range values are typed errors that say
what to do, derived values cannot overflow, and the filter node's parameters follow (issue 11)."""

from __future__ import annotations

import math

import pytest
from rcl_interfaces.msg import ParameterType

from safe_pe_cbf.config import FIELD_RANGES, MAX_WEIGHT_RATIO, WEIGHT_RANGE, CBFConfig
from safe_pe_cbf.errors import ConfigError
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.resolver import SafeActionResolver
from safe_pe_cbf.ros.filter_params import all_specs, cbf_specs
from safe_pe_cbf.ros_common.params import check_change
from safe_pe_cbf.ros_common.param_specs import defaults


@pytest.mark.parametrize("changes, fragment", [
    ({"omega_max": 1e300}, "omega_max"),
    ({"opponent_omega_max": 1e308}, "opponent_omega_max"),
    ({"opponent_vcp_offset": 1e200}, "opponent_vcp_offset"),
    ({"v_max": 1e10}, "v_max"),
    ({"dt": 50.0}, "not milliseconds"),
    ({"margin": 11.0}, "margin"),
    ({"feasibility_tol": 1.0}, "feasibility_tol"),
    ({"feasibility_tol": 1e300}, "feasibility_tol"),
    ({"weights": (1e-9, 1.0)}, "weights"),
    ({"weights": (1.0, 1.0001e3 * 1.0)}, "weights"),
    ({"weights": (0.01, 100.0)}, "at most"),
    ({"weights": 3.0}, "weights"),
    ({"relaxation_order": 7}, "relaxation_order"),
    ({"vcp_offset": 0.0}, "vcp_offset"),
    ({"gamma": 0.0}, "gamma"),
])
def test_out_of_range_fields_are_typed_errors(changes, fragment):
    with pytest.raises(ConfigError, match=fragment):
        CBFConfig(**changes)


def test_every_numeric_field_has_a_range_and_its_extremes_are_usable():
    numeric = {name for name, value in CBFConfig().to_dict().items()
               if isinstance(value, float)}
    assert numeric == set(FIELD_RANGES)
    arena = Arena(-50.0, 50.0, -50.0, 50.0)
    for name, (lo, hi, open_lo) in FIELD_RANGES.items():
        for value in ((hi,) if open_lo else (lo, hi)):
            kw = {name: value}
            if name == "v_max" and value == 0.0:
                kw["v_min"] = -1.0
            if name == "v_min" and value == 0.0:
                continue  # the default
            cfg = CBFConfig(**kw)
            for prop in ("vcp_speed_max", "sampling_coeff", "opponent_vcp_speed_max"):
                assert math.isfinite(getattr(cfg, prop)), (name, value, prop)
            u, rec = SafeActionResolver(cfg, arena).resolve((0.0, 0.0, 0.3), (1.0, 1.0),
                                                            (20.0, 20.0, 0.0))
            assert all(math.isfinite(x) for x in u) and math.isfinite(rec.min_h)
        if not open_lo:
            with pytest.raises(ConfigError):
                CBFConfig(**{name: lo - max(1.0, abs(lo))})
        with pytest.raises(ConfigError):
            CBFConfig(**{name: hi + max(1.0, abs(hi))})
    # extreme weights that are still accepted
    CBFConfig(weights=(WEIGHT_RANGE[0], WEIGHT_RANGE[0] * MAX_WEIGHT_RATIO))


def test_node_declares_the_core_ranges():
    specs = all_specs()
    for name, (lo, hi, _) in FIELD_RANGES.items():
        desc = specs[f"cbf.{name}"].descriptor()
        assert desc.type == ParameterType.PARAMETER_DOUBLE
        (rng,) = desc.floating_point_range
        assert (rng.from_value, rng.to_value) == (lo, hi), name
    weights = {s.name: s for s in cbf_specs()}["cbf.weights"]
    assert "above the maximum" in weights.check([1.0, 1e9])
    assert "below the minimum" in weights.check([1e-9, 1.0])


def test_parameter_check_rejects_any_exception_with_the_reason():
    values = defaults(list(all_specs().values()))

    class FakeNode:  # only the parameter getter of a node is used
        def get_parameter(self, name):
            return type("P", (), {"value": values[name]})()

    def build_overflows(vals):
        return math.exp(vals["cbf.omega_max"] * 1e3)  # OverflowError, not a ValueError

    result = check_change(FakeNode(), all_specs(), [], build_overflows)
    assert not result.successful and "OverflowError" in result.reason


def test_yaml_numbers_with_exponent_are_floats_and_quoted_numbers_are_rejected(tmp_path):
    from safe_pe_cbf.config import load_yaml

    assert load_yaml("a: 3e-4\nb: -2E+3\nc: .5e1\nd: 1.0e-09\ne: 12\nf: '0.5'\n") == {
        "a": 3e-4, "b": -2e3, "c": 5.0, "d": 1e-9, "e": 12, "f": "0.5"}
    path = tmp_path / "cbf.yaml"
    path.write_text("cbf:\n  gamma: '0.5'\n")
    with pytest.raises(ConfigError, match="gamma must be a number, got '0.5'"):
        CBFConfig.from_yaml(path)
    path.write_text("cbf:\n  feasibility_tol: 1e-8\n")
    assert CBFConfig.from_yaml(path).feasibility_tol == 1e-8
