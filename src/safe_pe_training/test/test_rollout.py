"""Tests of safe_self_play_rollout (SB3-independent episodes with both robots filtered)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from safe_pe_training.config import ConfigError, SafeSelfPlayConfig, get_run_configs
from safe_pe_training.rollout import RolloutResult, safe_self_play_rollout

CHASE = {"pursuer": "pure_pursuit", "evader": "flee"}


def _short(config: SafeSelfPlayConfig, max_steps: int = 150) -> SafeSelfPlayConfig:
    config = config.copy()
    config.env.overrides = {"max_steps": max_steps}
    return config.validate()


@pytest.fixture(scope="module")
def runs() -> dict[str, SafeSelfPlayConfig]:
    return {run: _short(config) for run, config in get_run_configs().items()}


class TestSafeRollout:
    def test_basic(self, runs: dict[str, SafeSelfPlayConfig]) -> None:
        result = safe_self_play_rollout(runs["A"], 2)
        assert isinstance(result, RolloutResult) and len(result.episodes) == 2
        steps = sum(e.length for e in result.episodes)
        # One tracker step per robot per control step.
        assert result.safety.steps == 2 * steps
        assert result.per_agent["pursuer"].steps == result.per_agent["evader"].steps == steps
        assert result.targets.steps == 2 * steps
        as_dict = result.to_dict()
        assert len(as_dict["episodes"]) == 2 and "targets" in as_dict

    def test_no_sb3_import(self) -> None:
        code = ("import sys; from safe_pe_training.config import get_run_configs; "
                "from safe_pe_training.rollout import safe_self_play_rollout as r; "
                "c = get_run_configs()['C']; c.env.overrides = {'max_steps': 20}; "
                "r(c, 1); assert 'stable_baselines3' not in sys.modules, 'SB3 imported'")
        subprocess.run([sys.executable, "-c", code], check=True)

    def test_with_cbf(self, runs: dict[str, SafeSelfPlayConfig]) -> None:
        result = safe_self_play_rollout(runs["C"], 3, policies=CHASE, seed=1)
        tiers = result.safety.tier_counts
        assert tiers[5] == 0, "every command was filtered (no DISABLED tier)"
        assert result.safety.interventions > 0, "the chase needs the filter somewhere"
        assert result.total_violations == 0
        assert result.targets["violations"].met

    def test_without_cbf(self, runs: dict[str, SafeSelfPlayConfig]) -> None:
        result = safe_self_play_rollout(runs["B"], 3, policies=CHASE, seed=1)
        assert result.safety.tier_counts[5] == result.safety.steps  # all DISABLED
        assert result.safety.interventions == 0
        # Unfiltered flee runs into the walls: the ground truth shows violations, and the
        # measured margins go negative.
        assert result.total_violations > 0 and result.safety.violations > 0
        assert result.safety.min_min_h < 0.0
        assert not result.targets.all_met and not result.targets["violations"].met
        assert result.total_violations == result.safety.violations

    def test_episode_results(self, runs: dict[str, SafeSelfPlayConfig]) -> None:
        result = safe_self_play_rollout(runs["A"], 3, policies=CHASE, seed=2)
        max_steps = 150
        for i, episode in enumerate(result.episodes):
            assert episode.index == i
            assert episode.outcome in ("capture", "timeout")
            assert 1 <= episode.length <= max_steps
            assert (episode.outcome == "timeout") == (episode.length == max_steps) or \
                episode.captured
            assert sum(episode.tier_counts[0]) == sum(episode.tier_counts[1]) == episode.length
            assert episode.obstacles == 2
            assert all(np.isfinite(episode.returns))
            assert episode.min_distance > 0.0
        assert 0.0 <= result.capture_rate <= 1.0
        assert result.mean_length == pytest.approx(np.mean([e.length for e in result.episodes]))

    def test_reproducible(self, runs: dict[str, SafeSelfPlayConfig]) -> None:
        first = safe_self_play_rollout(runs["A"], 2, seed=9)
        second = safe_self_play_rollout(runs["A"], 2, seed=9)
        other = safe_self_play_rollout(runs["A"], 2, seed=10)
        assert first.episodes == second.episodes
        assert first.episodes != other.episodes

    def test_resolver_metrics(self, runs: dict[str, SafeSelfPlayConfig]) -> None:
        result = safe_self_play_rollout(runs["C"], 2, policies=CHASE, seed=4)
        summary = result.safety
        assert sum(summary.tier_counts) == summary.steps
        assert summary.feasibility_rate == pytest.approx(1.0 - summary.infeasible
                                                         / summary.steps)
        assert summary.mean_min_h >= summary.min_min_h
        interventions = sum(sum(e.interventions) for e in result.episodes)
        assert interventions == summary.interventions
        per_agent = result.per_agent
        assert per_agent["pursuer"].steps + per_agent["evader"].steps == summary.steps
        assert [r.name for r in result.targets.results][:3] == [
            "violations", "qp_feasibility", "backup_rate"]

    def test_custom_policy(self, runs: dict[str, SafeSelfPlayConfig]) -> None:
        seen: list[tuple[int, ...]] = []

        def full_ahead(obs: np.ndarray) -> np.ndarray:
            seen.append(obs.shape)
            return np.array([1.0, 0.0])

        result = safe_self_play_rollout(runs["A"], 1, policies=(full_ahead, "flee"), seed=5)
        assert len(seen) == result.episodes[0].length and len(set(seen)) == 1
        assert result.total_violations == 0
        # Driving straight at full speed needs the filter before hitting something.
        assert result.per_agent["pursuer"].interventions > 0 or \
            result.episodes[0].outcome == "capture"

    def test_bad_arguments(self, runs: dict[str, SafeSelfPlayConfig]) -> None:
        with pytest.raises(ConfigError, match="n_episodes"):
            safe_self_play_rollout(runs["A"], 0)
        with pytest.raises(ConfigError, match="unknown role"):
            safe_self_play_rollout(runs["A"], 1, policies={"referee": "flee"})
        with pytest.raises(ValueError, match="unknown scripted"):
            safe_self_play_rollout(runs["A"], 1, policies={"pursuer": "teleport"})
        with pytest.raises(ConfigError, match="seed"):
            safe_self_play_rollout(runs["A"], 1, seed=-1)

    def test_non_finite_policy_is_rejected(self, runs: dict[str, SafeSelfPlayConfig]) -> None:
        with pytest.raises(ValueError, match="non-finite"):
            safe_self_play_rollout(runs["A"], 1,
                                   policies={"pursuer": lambda obs: np.array([np.nan, 0.0])})

    @pytest.mark.parametrize("run", ["A", "B", "C", "D"])
    def test_all_run_types(self, runs: dict[str, SafeSelfPlayConfig], run: str) -> None:
        config = runs[run]
        result = safe_self_play_rollout(config, 2, seed=3)
        assert len(result.episodes) == 2
        obstacles = {e.obstacles for e in result.episodes}
        assert obstacles == ({0} if run == "B" else {2})
        if config.use_cbf:
            assert result.total_violations == 0
            assert result.safety.tier_counts[5] == 0
        else:
            assert result.safety.tier_counts[5] == result.safety.steps

    def test_safety_reward_changes_returns_only(self,
                                                runs: dict[str, SafeSelfPlayConfig]) -> None:
        with_w5 = safe_self_play_rollout(runs["A"], 2, policies=CHASE, seed=6)
        without = safe_self_play_rollout(runs["D"], 2, policies=CHASE, seed=6)
        for a, d in zip(with_w5.episodes, without.episodes):
            assert (a.outcome, a.length, a.tier_counts) == (d.outcome, d.length, d.tier_counts)
            assert a.returns != d.returns
            # Rewards are zero-sum in the game part; w5 adds a bounded per-agent term.
            w5 = runs["A"].safety_reward.w5
            for agent in range(2):
                assert abs(a.returns[agent] - d.returns[agent]) <= w5 * a.length + 1e-9
