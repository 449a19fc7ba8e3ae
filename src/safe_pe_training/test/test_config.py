"""Tests of SafeSelfPlayConfig: defaults, YAML round trip, validation, runs A/B/C/D."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from safe_pe_training.config import (
    RUN_TYPES,
    ConfigError,
    SafeSelfPlayConfig,
    get_run_configs,
    load_run_config,
)

REPO = Path(__file__).resolve().parents[3]
RUNS_DIR = REPO / "config" / "runs"


def _with(data: dict, dotted: str, value: object) -> dict:
    """Copy of a config dict with one (dotted) key set."""
    data = yaml.safe_load(yaml.safe_dump(data))
    *path, last = dotted.split(".")
    node = data
    for key in path:
        node = node[key]
    node[last] = value
    return data


class TestSafeSelfPlayConfig:
    def test_default(self) -> None:
        config = SafeSelfPlayConfig().validate()
        assert config.run_type == "A"
        assert config.use_cbf and config.use_beta_policy and config.use_safety_reward
        assert config.obstacles.enabled
        assert config.device == "cpu" and config.torch_threads == 1
        assert config.num_phases == 40  # 4 M steps / 100 k per phase
        assert config.safety_targets.max_violations == 0
        assert config.safety_targets.min_feasibility_rate == 0.99
        assert config.safety_targets.max_backup_rate == 0.01

    def test_custom(self) -> None:
        config = SafeSelfPlayConfig(run_type="custom", use_cbf=True, use_beta_policy=False,
                                    use_safety_reward=True, seed=7, num_envs=4,
                                    total_timesteps=1000)
        config.ppo.n_steps = 64
        config.ppo.batch_size = 64
        config.self_play.steps_per_phase = 300
        config.obstacles.count_min = 1
        config.obstacles.count_max = 3
        config.validate()
        assert config.num_phases == 4
        assert config.flags == (True, False, True, True)

    def test_safety_targets_are_the_trackers_dataclass(self) -> None:
        from safe_pe_training.safety_targets import SafetyTargets
        from safe_pe_training.safety_tracker import SafetyMetricsTracker

        config = SafeSelfPlayConfig.from_dict({"safety_targets": {"window_size": 20,
                                                                  "max_backup_rate": 0.1}})
        assert isinstance(config.safety_targets, SafetyTargets)
        tracker = SafetyMetricsTracker(targets=config.safety_targets)
        assert tracker.window_size == 20 and tracker.targets.max_backup_rate == 0.1

    def test_cbf_is_the_filters_cbf_config(self) -> None:
        """The training config embeds CBFConfig (no copy of its fields and defaults)."""
        from safe_pe_cbf.config import CBFConfig

        from safe_pe_training.config import CBF_ENV_FIELDS

        config = SafeSelfPlayConfig()
        assert isinstance(config.cbf, CBFConfig) and config.cbf == CBFConfig()
        written = config.to_dict()["cbf"]
        assert set(written) == {f.name for f in dataclasses.fields(CBFConfig)} \
            - set(CBF_ENV_FIELDS)
        with pytest.raises(ConfigError, match=r"\['dt'\] are set per robot"):
            SafeSelfPlayConfig.from_dict({"cbf": {"dt": 0.1}})
        config.cbf.robot_radius = 0.3
        with pytest.raises(ConfigError, match=r"robot_radius.*set per robot"):
            config.validate()

    def test_collision_share_of_both_robots(self) -> None:
        """CBFConfig accepts a share up to 1 for one robot; both training robots use it."""
        assert SafeSelfPlayConfig.from_dict(
            {"cbf": {"collision_mode": "worst_case", "collision_share": 0.8}})
        with pytest.raises(ConfigError, match=r"collision_share must be in \(0, 0.5\]"):
            SafeSelfPlayConfig.from_dict({"cbf": {"collision_share": 0.6}})

    def test_yaml_round_trip(self, tmp_path: Path) -> None:
        config = SafeSelfPlayConfig(run_type="custom", use_cbf=True, use_beta_policy=False,
                                    use_safety_reward=True, seed=3)
        config.env.overrides = {"max_steps": 300, "arena": {"x_max": 8.0}}
        config.cbf.weights = (2.0, 0.5)
        config.ppo.learning_rate = 1.234567890123e-4
        config.ppo.net_arch = [32, 16]
        config.self_play.evader_speed_margin = None
        config.obstacles.count_max = 3
        config.validate()
        path = tmp_path / "run.yaml"
        text = config.to_yaml(path)
        assert path.read_text() == text
        loaded = SafeSelfPlayConfig.from_yaml(path)
        assert loaded == config
        assert loaded.to_yaml() == text
        assert SafeSelfPlayConfig.from_yaml(text) == config  # YAML text works too
        assert list(tmp_path.iterdir()) == [path], "atomic write leaves no temp file"

    def test_partial_yaml_keeps_defaults(self) -> None:
        loaded = SafeSelfPlayConfig.from_yaml("seed: 5\nppo:\n  learning_rate: 3e-4\n")
        assert loaded.seed == 5 and loaded.ppo.learning_rate == 3e-4
        assert loaded.ppo.n_steps == SafeSelfPlayConfig().ppo.n_steps

    @pytest.mark.parametrize("text, match", [
        ("ppo:\n  learning_rate: '0.5'\n", r"ppo.learning_rate must be a number, got '0.5', "
                                          r"a string: write it without quotes"),
        ("cbf:\n  gamma: \"0.5\"\n", r"gamma"),
        ("cbf:\n  feasibility_tol: 1.0\n", r"feasibility_tol"),
        ("cbf:\n  weights: [1.0e-9, 1.0]\n", r"weights"),
    ])
    def test_quoted_numbers_are_rejected_not_converted(self, text, match) -> None:
        with pytest.raises(ConfigError, match=match):
            SafeSelfPlayConfig.from_yaml(text)

    @pytest.mark.parametrize("dotted, value, match", [
        ("nope", 1, r"unknown key\(s\) \['nope'\]"),
        ("ppo.lr", 0.1, r"ppo: unknown key\(s\) \['lr'\]"),
        ("seed", "zero", "seed must be an integer"),
        ("seed", 1.5, "seed must be an integer"),
        ("seed", 2_000_000_000, "evaluation games"),
        ("total_timesteps", 99_999, "below one self-play phase"),
        ("use_cbf", "yes", "use_cbf must be true or false"),
        ("num_envs", 0, "num_envs must be >= 1"),
        ("ppo.gamma", 1.5, r"ppo.gamma must be in \(0, 1\]"),
        ("ppo.learning_rate", "fast", "ppo.learning_rate must be a number"),
        ("ppo.learning_rate", float("nan"), "must be finite"),
        ("ppo.net_arch", [64, 0], "net_arch"),
        ("ppo.batch_size", 10**7, "batch_size"),
        ("cbf.weights", [1.0], "cbf.weights must have 2 entries"),
        ("cbf.gamma", 0.0, "cbf.gamma"),
        ("cbf.collision_share", 0.8, "collision_share"),
        ("cbf.solver", "cvxopt", "cbf.solver"),
        ("run_type", "E", "run_type must be one of"),
        ("use_safety_reward", False, "does not match its flags"),
        ("safety_reward.w5", 0.0, "w5 must be > 0"),
        ("safety_targets.min_feasibility_rate", 1.2, "min_feasibility_rate"),
        ("self_play.first_role", "referee", "first_role"),
        ("self_play.steps_per_phase", 0, "steps_per_phase"),
        ("obstacles.count_min", 5, "count_min"),
        ("env", [1, 2], "env must be a mapping"),
        ("env.overrides", {"max_stepz": 3}, "max_stepz"),
        ("env.overrides", {"rewards": {"w5": 1.0}}, "safety_reward.w5"),
        ("env.overrides", {"evader": {"v_max": 2.0}}, "evader_speed_margin"),
        ("env.overrides", {"dt": -1.0}, "dt must be > 0"),
        ("env.profile", "mars_rover", "unknown profile"),
    ])
    def test_validation_errors(self, dotted: str, value: object, match: str) -> None:
        data = SafeSelfPlayConfig().to_dict()
        with pytest.raises(ConfigError, match=match):
            SafeSelfPlayConfig.from_dict(_with(data, dotted, value))

    def test_beta_needs_cbf(self) -> None:
        config = SafeSelfPlayConfig(run_type="custom", use_cbf=False, use_beta_policy=True)
        with pytest.raises(ConfigError, match="use_beta_policy needs use_cbf"):
            config.validate()

    def test_python_construction_is_type_checked(self) -> None:
        config = SafeSelfPlayConfig(seed="1")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="seed must be an integer"):
            config.validate()

    def test_broken_yaml(self, tmp_path: Path) -> None:
        path = tmp_path / "broken.yaml"
        path.write_text("seed: [1, 2\nppo: {")
        with pytest.raises(ConfigError, match="not valid YAML"):
            SafeSelfPlayConfig.from_yaml(path)
        with pytest.raises(ConfigError, match="cannot read"):
            SafeSelfPlayConfig.from_yaml(tmp_path / "missing.yaml")
        path.write_text("- just\n- a list\n")
        with pytest.raises(ConfigError, match="must be a mapping"):
            SafeSelfPlayConfig.from_yaml(path)

    def test_run_configs(self) -> None:
        runs = get_run_configs()
        assert sorted(runs) == ["A", "B", "C", "D"]
        assert set(runs) < set(RUN_TYPES)
        a, b, c, d = runs["A"], runs["B"], runs["C"], runs["D"]
        assert a.flags == (True, True, True, True)  # CBF-Beta + w5 + obstacles
        assert b.flags == (False, False, False, False)  # unsafe, no obstacles
        assert c.flags == (True, False, False, True)  # filter only, Gaussian policy
        assert d.flags == (True, True, False, True)  # A without w5
        for run, config in runs.items():
            assert config.run_type == run
            # Everything but the flags is shared, so the ablation compares like with like.
            assert config.ppo == a.ppo and config.self_play == a.self_play
            assert config.cbf == a.cbf and config.seed == a.seed

    def test_run_configs_env(self) -> None:
        from safe_pe_training.factories import make_env_config

        envs = {run: make_env_config(c) for run, c in get_run_configs().items()}
        assert envs["A"].rewards.w5 > 0.0
        assert envs["B"].rewards.w5 == envs["C"].rewards.w5 == envs["D"].rewards.w5 == 0.0
        assert envs["B"].obstacles.count_max == 0 and envs["A"].obstacles.count_max >= 1
        assert envs["A"].evader.v_max == pytest.approx(1.15 * envs["A"].pursuer.v_max)

    def test_run_configs_from_base(self) -> None:
        base = SafeSelfPlayConfig(seed=11, num_envs=4)
        base.ppo.batch_size = 256
        runs = get_run_configs(base)
        assert all(c.seed == 11 and c.num_envs == 4 for c in runs.values())
        assert base.run_type == "A" and base.use_cbf, "base is not modified"

    @pytest.mark.parametrize("run", ["A", "B", "C", "D"])
    def test_run_yaml_files_equal_presets(self, run: str) -> None:
        path = RUNS_DIR / f"run_{run.lower()}.yaml"
        assert SafeSelfPlayConfig.from_yaml(path) == get_run_configs()[run]
        assert load_run_config(path) == load_run_config(run.lower())

    def test_b_with_obstacles_yaml_is_b_in_a_world(self) -> None:
        config = SafeSelfPlayConfig.from_yaml(RUNS_DIR / "run_b_obstacles.yaml")
        b, a = get_run_configs()["B"], get_run_configs()["A"]
        assert config.run_type == "custom" and config.obstacles == a.obstacles
        assert config.flags[:3] == b.flags[:3] and config.ppo == b.ppo
        assert config.self_play == b.self_play and config.env == b.env

    def test_load_run_config_errors(self) -> None:
        with pytest.raises(ConfigError, match="neither a run type"):
            load_run_config("Z")
