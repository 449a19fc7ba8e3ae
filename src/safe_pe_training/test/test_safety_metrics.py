"""Tests of SafetyMetricsTracker, the safety targets and the SB3 SafetyMetricsCallback."""

from __future__ import annotations

import math
import subprocess
import sys
from enum import IntEnum

import numpy as np
import pytest

from safe_pe_training.safety_stats import NUM_TIERS, TIER_NAMES, SafetyMetricsSummary, \
    tier_index
from safe_pe_training.safety_targets import SafetyTargets, safety_reward_effect
from safe_pe_training.safety_tracker import SafetyMetricsTracker, log_safety_metrics, \
    record_infos


def assert_summaries_close(a: SafetyMetricsSummary, b: SafetyMetricsSummary) -> None:
    """Equal counts; float statistics equal up to summation order."""
    da, db = a.to_dict(), b.to_dict()
    assert da.keys() == db.keys()
    for key, value in da.items():
        if isinstance(value, float):
            assert value == pytest.approx(db[key], rel=1e-9, abs=1e-12, nan_ok=True), key
        elif isinstance(value, dict):
            assert value == pytest.approx(db[key], rel=1e-9, nan_ok=True), key
        else:
            assert value == db[key], key


class FakeTier(IntEnum):
    """Same numbers as safe_pe_cbf.resolver.Tier (used to test IntEnum input)."""

    NOMINAL = 0
    QP = 1
    RELAXED = 2
    BACKUP = 3
    STOP = 4
    DISABLED = 5


def _random_steps(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    min_h = rng.normal(0.8, 1.2, n)
    min_h[rng.random(n) < 0.02] = np.nan
    return {
        "methods": rng.integers(0, NUM_TIERS, n),
        "min_h": min_h,
        "intervention": np.where(rng.random(n) < 0.4, rng.random(n), 0.0),
        "violation": rng.random(n) < 0.05,
        "qp_feasible": rng.random(n) < 0.97,
    }


class TestSafetyMetricsTracker:
    def test_init(self) -> None:
        tracker = SafetyMetricsTracker()
        assert tracker.window_size == 1000
        assert tracker.total_steps == 0 and tracker.current_phase == 0
        summary = tracker.get_summary()
        assert summary.steps == 0 and summary.violations == 0
        assert summary.feasibility_rate == 1.0 and summary.intervention_rate == 0.0
        assert math.isnan(summary.mean_min_h)
        assert tracker.get_recent_metrics().steps == 0

    @pytest.mark.parametrize("bad", [0, -3, 2.5, True])
    def test_init_rejects_bad_window(self, bad: object) -> None:
        with pytest.raises(ValueError, match="window_size"):
            SafetyMetricsTracker(window_size=bad)  # type: ignore[arg-type]

    def test_record_step(self) -> None:
        tracker = SafetyMetricsTracker()
        tracker.record_step(FakeTier.QP, 0.5, 0.2, False)
        tracker.record_step(0, 1.5, 0.0, False)
        summary = tracker.get_summary()
        assert summary.steps == 2
        assert summary.interventions == 1
        assert summary.intervention_rate == pytest.approx(0.5)
        assert summary.mean_intervention == pytest.approx(0.1)
        assert summary.mean_min_h == pytest.approx(1.0)
        assert summary.min_min_h == pytest.approx(0.5)
        assert summary.exact_rate == 1.0

    def test_tier_names_and_errors(self) -> None:
        assert tier_index("backup") == 3 and tier_index("TIER_STOP") == 4
        assert tier_index("exact") == 1 and tier_index(FakeTier.DISABLED) == 5
        for bad in ("fancy", 6, -1, 1.0, None, True):
            with pytest.raises(ValueError, match="tier"):
                tier_index(bad)  # type: ignore[arg-type]
        tracker = SafetyMetricsTracker()
        with pytest.raises(ValueError):
            tracker.record_batch(np.array([0, 7]), [0.0, 0.0], 0.0, False)
        with pytest.raises(ValueError, match="intervention"):
            tracker.record_step("QP", 0.1, float("nan"), False)
        with pytest.raises(ValueError, match="intervention"):
            tracker.record_step("QP", 0.1, -1.0, False)
        with pytest.raises(ValueError, match="shape"):
            tracker.record_batch(np.array([0, 1]), [0.0, 0.0, 1.0], 0.0, False)
        assert tracker.total_steps == 0, "a rejected batch must record nothing"

    def test_tier_numbers_match_resolver_and_message(self) -> None:
        from safe_pe_cbf.resolver import Tier

        assert [t.name for t in Tier] == list(TIER_NAMES)
        for tier in Tier:
            assert tier_index(tier) == int(tier) == tier_index(tier.name.lower())
        msgs = pytest.importorskip("safe_pe_msgs.msg")
        for i, name in enumerate(TIER_NAMES):
            assert getattr(msgs.SafetyStatus, f"TIER_{name}") == i

    def test_violations(self) -> None:
        tracker = SafetyMetricsTracker()
        tracker.record_step("QP", -0.01, 0.3, True)
        tracker.record_step("QP", 0.2, 0.3, False)
        summary = tracker.get_summary()
        assert summary.violations == 1 and summary.violation_rate == pytest.approx(0.5)
        check = tracker.check_safety_targets()
        assert not check["violations"].met and not check.all_met

    def test_backups_and_feasibility(self) -> None:
        tracker = SafetyMetricsTracker()
        for _ in range(8):
            tracker.record_step("NOMINAL", 1.0, 0.0, False)
        tracker.record_step("BACKUP", 0.01, 1.0, False)
        tracker.record_step("RELAXED", 0.02, 0.5, False)
        summary = tracker.get_summary()
        assert summary.backups == 1 and summary.backup_rate == pytest.approx(0.1)
        # qp_feasible defaults to False for RELAXED and BACKUP.
        assert summary.infeasible == 2 and summary.feasibility_rate == pytest.approx(0.8)
        assert summary.exact_rate == pytest.approx(0.8)
        tracker.record_step("QP", 0.3, 0.1, False, qp_feasible=False)
        assert tracker.get_summary().infeasible == 3

    def test_watchdog_stops_are_not_solver_failures(self) -> None:
        # A STOP (stale state) or DISABLED step ran no QP: its qp_feasible=False flag (as the
        # filter node reports it) must not count against the feasibility target.
        single, batch = SafetyMetricsTracker(), SafetyMetricsTracker()
        rows = [("STOP", float("nan"), 0.4, False), ("DISABLED", 0.5, 0.0, False),
                ("QP", 0.2, 0.1, False), ("NOMINAL", 0.9, 0.0, True)]
        for tier, h, size, feasible in rows:
            single.record_step(tier, h, size, False, qp_feasible=feasible)
        batch.record_batch([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                           False, qp_feasible=[r[3] for r in rows])
        for tracker in (single, batch):
            summary = tracker.get_summary()
            assert summary.steps == 4 and summary.infeasible == 1
            assert summary.feasibility_rate == pytest.approx(0.75)

    def test_interventions(self) -> None:
        tracker = SafetyMetricsTracker(intervention_tol=0.05)
        tracker.record_step("QP", 0.5, 0.01, False)  # below tolerance
        tracker.record_step("QP", 0.5, 0.10, False)
        tracker.record_step("QP", 0.5, 0.01, False, intervened=True)  # explicit flag wins
        assert tracker.get_summary().interventions == 2

    def test_phases(self) -> None:
        tracker = SafetyMetricsTracker()
        for _ in range(5):
            tracker.record_step("QP", 0.5, 0.2, False)
        archived = tracker.end_phase()
        assert archived.phase == 0 and archived.summary.steps == 5
        assert sum(archived.margin_histogram) == 5
        assert tracker.phase_steps == 0 and tracker.current_phase == 1
        tracker.record_step("BACKUP", 0.1, 1.0, True)
        assert tracker.get_phase_metrics().steps == 1
        assert tracker.get_phase_metrics().violations == 1
        second = tracker.end_phase()
        assert second.phase == 1 and second.summary.backups == 1
        assert [p.summary.steps for p in tracker.phase_history] == [5, 1]
        assert tracker.get_summary().steps == 6, "lifetime counters survive end_phase"
        empty = tracker.end_phase()
        assert empty.summary.steps == 0

    def test_recent_window(self) -> None:
        tracker = SafetyMetricsTracker(window_size=10)
        for _ in range(15):
            tracker.record_step("QP", 0.5, 0.3, False)
        for _ in range(10):
            tracker.record_step("NOMINAL", 2.0, 0.0, False)
        recent = tracker.get_recent_metrics()
        assert recent.steps == 10
        assert recent.intervention_rate == 0.0 and recent.mean_min_h == pytest.approx(2.0)
        assert tracker.get_summary().steps == 25

    def test_recent_window_wraps_with_large_batches(self) -> None:
        tracker = SafetyMetricsTracker(window_size=7)
        data = _random_steps(53, seed=3)
        for start in range(0, 53, 5):  # chunks of 5 cross the ring boundary repeatedly
            sl = slice(start, start + 5)
            tracker.record_batch(data["methods"][sl], data["min_h"][sl],
                                 data["intervention"][sl], data["violation"][sl])
        reference = SafetyMetricsTracker(window_size=7)
        reference.record_batch(data["methods"][-7:], data["min_h"][-7:],
                               data["intervention"][-7:], data["violation"][-7:])
        assert_summaries_close(tracker.get_recent_metrics(), reference.get_recent_metrics())
        big = SafetyMetricsTracker(window_size=7)
        big.record_batch(data["methods"], data["min_h"], data["intervention"],
                         data["violation"])
        assert_summaries_close(big.get_recent_metrics(), reference.get_recent_metrics())

    def test_summary_matches_numpy(self) -> None:
        data = _random_steps(2000, seed=1)
        tracker = SafetyMetricsTracker()
        tracker.record_batch(**data)
        summary = tracker.get_summary()
        finite = data["min_h"][np.isfinite(data["min_h"])]
        assert summary.steps == 2000
        assert summary.violations == int(data["violation"].sum())
        assert summary.interventions == int((data["intervention"] > 1e-6).sum())
        ran_qp = data["methods"] < 4  # STOP and DISABLED steps ran no QP
        assert summary.infeasible == int((~data["qp_feasible"] & ran_qp).sum())
        assert summary.margin_unknown == 2000 - finite.size
        assert summary.mean_min_h == pytest.approx(finite.mean())
        assert summary.std_min_h == pytest.approx(finite.std())
        assert summary.min_min_h == finite.min() and summary.max_min_h == finite.max()
        assert summary.tier_counts == tuple(np.bincount(data["methods"], minlength=6))
        assert sum(summary.tier_rates) == pytest.approx(1.0)
        as_dict = summary.to_dict()
        assert as_dict["method_counts"]["BACKUP"] == summary.backups

    def test_targets_met(self) -> None:
        tracker = SafetyMetricsTracker()
        tracker.record_batch(np.zeros(500, dtype=int), np.full(500, 0.4), 0.0, False)
        tracker.record_batch(np.ones(500, dtype=int), np.full(500, 0.1), 0.2, False)
        check = tracker.check_safety_targets()
        assert check.all_met and check.steps == 1000 and check.scope == "lifetime"
        names = [r.name for r in check.results]
        assert names == ["violations", "qp_feasibility", "backup_rate", "intervention_trend"]
        assert check["qp_feasibility"].value == 1.0
        assert not check["intervention_trend"].enforced
        assert check.to_dict()["all_met"] is True

    def test_targets_failed(self) -> None:
        tracker = SafetyMetricsTracker()
        tracker.record_batch(np.full(95, 1), np.full(95, 0.3), 0.1, False)
        tracker.record_batch(np.full(5, 3), np.full(5, 0.01), 1.0, False)  # 5 % backups
        check = tracker.check_safety_targets()
        assert not check.all_met
        assert not check["backup_rate"].met and not check["qp_feasibility"].met
        assert check["violations"].met
        loose = SafetyTargets(min_feasibility_rate=0.9, max_backup_rate=0.1)
        assert tracker.check_safety_targets(targets=loose).all_met

    def test_targets_need_steps(self) -> None:
        tracker = SafetyMetricsTracker()
        assert not tracker.check_safety_targets().all_met
        relaxed = SafetyTargets(require_steps=False)
        assert tracker.check_safety_targets(targets=relaxed).all_met

    def test_intervention_trend(self) -> None:
        tracker = SafetyMetricsTracker(window_size=100,
                                       targets=SafetyTargets(enforce_intervention_trend=True))
        tracker.record_batch(np.ones(100, dtype=int), np.full(100, 0.2), 0.5, False)
        assert math.isnan(tracker.intervention_trend()), "needs two disjoint windows"
        tracker.record_batch(np.zeros(60, dtype=int), np.full(60, 1.0), 0.0, False)
        tracker.record_batch(np.ones(40, dtype=int), np.full(40, 0.2), 0.5, False)
        assert tracker.intervention_trend() == pytest.approx(0.4)
        assert tracker.check_safety_targets().all_met
        tracker.record_batch(np.ones(20, dtype=int), np.full(20, 0.2), 0.5, False)
        assert tracker.intervention_trend() == pytest.approx(0.6)
        check = tracker.check_safety_targets()
        assert not check["intervention_trend"].met and not check.all_met

    def test_window_is_the_targets_window(self) -> None:
        """One window setting: the targets' unless the tracker is given its own."""
        assert SafetyMetricsTracker(targets=SafetyTargets(window_size=7)).window_size == 7
        tracker = SafetyMetricsTracker(window_size=5, targets=SafetyTargets(window_size=7))
        assert tracker.window_size == 5 and tracker.targets.window_size == 5
        with pytest.raises(ValueError, match="window_size"):
            SafetyTargets(window_size=0)

    def test_targets_validation(self) -> None:
        with pytest.raises(ValueError, match="min_feasibility_rate"):
            SafetyTargets(min_feasibility_rate=1.5)
        with pytest.raises(ValueError, match="max_violations"):
            SafetyTargets(max_violations=-1)

    def test_safety_reward_effect(self) -> None:
        assert safety_reward_effect(0.3, 0.5).met  # 40 % fewer interventions
        assert not safety_reward_effect(0.45, 0.5).met
        assert not safety_reward_effect(0.0, 0.0).met  # not measurable

    def test_margin_stats(self) -> None:
        tracker = SafetyMetricsTracker(margin_edges=np.linspace(0.0, 1.0, 11))
        values = np.array([-0.5, 0.05, 0.15, 0.15, 0.95, 3.0, np.nan])
        tracker.record_batch(np.ones(7, dtype=int), values, 0.0, False)
        stats = tracker.get_margin_stats()
        assert stats["counts"][0] == 1 and stats["counts"][-1] == 1  # under/overflow
        assert stats["counts"][1:3] == [1, 2] and stats["counts"][10] == 1
        assert sum(stats["counts"]) == 6 and stats["unknown"] == 1
        assert len(stats["edges"]) == len(stats["counts"]) + 1
        assert stats["min"] == -0.5 and stats["max"] == 3.0
        phase = tracker.get_margin_stats("phase")
        finite = values[np.isfinite(values)]
        assert phase["percentiles"]["p50"] == pytest.approx(np.percentile(finite, 50))
        recent = tracker.get_margin_stats("recent")
        assert recent["percentiles"] == phase["percentiles"]
        p = stats["percentiles"]
        assert -0.5 <= p["p1"] <= p["p25"] <= p["p50"] <= p["p75"] <= p["p99"] <= 3.0
        with pytest.raises(ValueError, match="scope"):
            tracker.get_margin_stats("weekly")

    def test_non_uniform_margin_edges(self) -> None:
        tracker = SafetyMetricsTracker(margin_edges=[0.0, 0.1, 1.0, 5.0])
        tracker.record_batch(np.zeros(4, dtype=int), [0.05, 0.5, 0.5, 7.0], 0.0, False)
        assert tracker.get_margin_stats()["counts"] == [0, 1, 2, 0, 1]
        with pytest.raises(ValueError, match="margin_edges"):
            SafetyMetricsTracker(margin_edges=[1.0, 0.0])

    def test_method_counts(self) -> None:
        tracker = SafetyMetricsTracker()
        for method in ["NOMINAL", "QP", "QP", FakeTier.RELAXED, 3, "stop", "exact"]:
            tracker.record_step(method, 0.1, 0.0, False)
        counts = tracker.get_method_counts()
        assert counts == {"NOMINAL": 1, "QP": 3, "RELAXED": 1, "BACKUP": 1, "STOP": 1,
                          "DISABLED": 0}
        assert tracker.get_method_counts("recent") == counts
        tracker.end_phase()
        assert sum(tracker.get_method_counts("phase").values()) == 0

    def test_batch_equals_loop_of_single_records(self) -> None:
        data = _random_steps(1500, seed=7)
        loop = SafetyMetricsTracker(window_size=300)
        batch = SafetyMetricsTracker(window_size=300)
        for i in range(1500):
            loop.record_step(int(data["methods"][i]), float(data["min_h"][i]),
                             float(data["intervention"][i]), bool(data["violation"][i]),
                             qp_feasible=bool(data["qp_feasible"][i]))
            if i == 700:
                loop.end_phase()
        batch.record_batch(**{k: v[:701] for k, v in data.items()})
        batch.end_phase()
        batch.record_batch(**{k: v[701:] for k, v in data.items()})
        assert_summaries_close(loop.get_summary(), batch.get_summary())
        assert_summaries_close(loop.get_recent_metrics(), batch.get_recent_metrics())
        assert_summaries_close(loop.get_phase_metrics(), batch.get_phase_metrics())
        assert len(loop.phase_history) == len(batch.phase_history) == 1
        assert_summaries_close(loop.phase_history[0].summary, batch.phase_history[0].summary)
        assert loop.phase_history[0].margin_histogram == batch.phase_history[0].margin_histogram
        assert loop.get_margin_stats()["counts"] == batch.get_margin_stats()["counts"]
        assert loop.intervention_trend() == batch.intervention_trend()

    def test_large_batch_equals_small_batches(self) -> None:
        data = _random_steps(10_000, seed=11)  # larger than the internal chunk (4096)
        big = SafetyMetricsTracker(window_size=2500)
        small = SafetyMetricsTracker(window_size=2500)
        big.record_batch(**data)
        for start in range(0, 10_000, 700):
            small.record_batch(**{k: v[start:start + 700] for k, v in data.items()})
        assert_summaries_close(big.get_summary(), small.get_summary())
        assert_summaries_close(big.get_recent_metrics(), small.get_recent_metrics())
        assert_summaries_close(big.get_phase_metrics(), small.get_phase_metrics())
        assert big.intervention_trend() == pytest.approx(small.intervention_trend())

    def test_batch_accepts_names_and_enums(self) -> None:
        tracker = SafetyMetricsTracker()
        tracker.record_batch(["QP", FakeTier.BACKUP, 0], [0.1, 0.2, 0.3], [0.1, 0.2, 0.0],
                             [False, False, True])
        summary = tracker.get_summary()
        assert summary.tier_counts[:4] == (1, 1, 0, 1) and summary.violations == 1


class _RecordingLogger:
    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def record(self, key: str, value: float) -> None:
        self.values[key] = value


class TestSafetyMetricsCallback:
    def test_module_imports_without_sb3(self) -> None:
        code = ("import sys; import safe_pe_training.safety_tracker as m; "
                "assert 'stable_baselines3' not in sys.modules; "
                "m.SafetyMetricsTracker().record_step('QP', 0.1, 0.0, False)")
        subprocess.run([sys.executable, "-c", code], check=True)

    def test_record_infos(self) -> None:
        tracker = SafetyMetricsTracker()
        infos = [
            {"safety": {"tier": 1, "min_h": 0.2, "intervention": 0.3, "violation": False,
                        "qp_feasible": True}},
            {},
            {"safety": {"tier": 3, "min_h": 0.01, "intervention": 1.0, "violation": True,
                        "qp_feasible": False}},
        ]
        assert record_infos(tracker, infos) == 2
        summary = tracker.get_summary()
        assert summary.steps == 2 and summary.violations == 1 and summary.backups == 1
        assert summary.infeasible == 1

    def test_callback_logs_through_sb3_logger(self, tmp_path) -> None:
        pytest.importorskip("stable_baselines3")
        import csv

        import gymnasium as gym
        from stable_baselines3 import PPO
        from stable_baselines3.common.logger import configure

        from safe_pe_training.safety_callback import SafetyMetricsCallback

        class TieredEnv(gym.Env):
            """Tiny env whose info carries a safety dict: tier BACKUP every 4th step."""

            observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
            action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

            def reset(self, *, seed=None, options=None):
                super().reset(seed=seed)
                self.t = 0
                return np.zeros(2, np.float32), {}

            def step(self, action):
                self.t += 1
                backup = self.t % 4 == 0
                info = {"safety": {"tier": 3 if backup else 1, "min_h": 0.5,
                                   "intervention": 0.2, "violation": False,
                                   "qp_feasible": not backup}}
                return np.zeros(2, np.float32), 0.0, False, self.t >= 16, info

        callback_cls = SafetyMetricsCallback
        tracker = SafetyMetricsTracker()
        model = PPO("MlpPolicy", TieredEnv(), n_steps=32, batch_size=32, n_epochs=1,
                    device="cpu", seed=0, policy_kwargs={"net_arch": [8]})
        model.set_logger(configure(str(tmp_path), ["csv"]))
        model.learn(64, callback=callback_cls(tracker=tracker))
        assert tracker.total_steps == 64 and tracker.get_summary().backups == 16
        with open(tmp_path / "progress.csv") as f:
            rows = list(csv.DictReader(f))
        last = rows[-1]
        assert float(last["safety/backup_rate"]) == pytest.approx(0.25)
        assert float(last["safety/feasibility_rate"]) == pytest.approx(0.75)
        assert float(last["safety/intervention_rate"]) == pytest.approx(1.0)
        assert float(last["safety/violation_rate"]) == 0.0
        assert float(last["safety/mean_cbf_margin"]) == pytest.approx(0.5)

    def test_log_safety_metrics(self) -> None:
        tracker = SafetyMetricsTracker()
        logger = _RecordingLogger()
        log_safety_metrics(logger, tracker)
        assert logger.values == {}, "nothing logged before any step"
        tracker.record_step("BACKUP", 0.25, 0.4, True)
        log_safety_metrics(logger, tracker)
        assert logger.values["safety/violation_rate"] == 1.0
        assert logger.values["safety/total_violations"] == 1


class TestTrackerProperties:
    """Random step streams against a plain-Python reference count."""

    @staticmethod
    def _reference(steps: list[tuple[int, float, float, bool, bool]]) -> dict[str, float]:
        n = len(steps)
        finite = [h for _, h, _, _, _ in steps if math.isfinite(h)]
        return {
            "steps": n,
            "violations": sum(v for *_, v, _ in steps),
            "interventions": sum(i > 1e-6 for _, _, i, _, _ in steps),
            "backups": sum(t == 3 for t, *_ in steps),
            # STOP (4) and DISABLED (5) ran no QP: never infeasible.
            "infeasible": sum(not f and t < 4 for t, *_, f in steps),
            "min_min_h": min(finite) if finite else float("nan"),
            "mean_min_h": sum(finite) / len(finite) if finite else float("nan"),
        }

    def test_random_streams(self) -> None:
        hypothesis = pytest.importorskip("hypothesis")
        st = hypothesis.strategies
        step = st.tuples(st.integers(0, NUM_TIERS - 1),
                         st.one_of(st.floats(-5, 15, allow_nan=False), st.just(float("nan"))),
                         st.one_of(st.just(0.0), st.floats(0, 3, allow_nan=False)),
                         st.booleans(), st.booleans())

        @hypothesis.settings(max_examples=40, deadline=None)
        @hypothesis.given(steps=st.lists(step, max_size=300), window=st.integers(1, 50),
                          cuts=st.lists(st.integers(0, 300), max_size=6))
        def check(steps: list, window: int, cuts: list[int]) -> None:
            tracker = SafetyMetricsTracker(window_size=window)
            bounds = sorted({0, len(steps), *[c for c in cuts if c <= len(steps)]})
            for lo, hi in zip(bounds, bounds[1:]):
                chunk = steps[lo:hi]
                tracker.record_batch(np.array([s[0] for s in chunk], dtype=np.int64),
                                     [s[1] for s in chunk], [s[2] for s in chunk],
                                     [s[3] for s in chunk], [s[4] for s in chunk])
            for scope, expected_steps in ((tracker.get_summary(), steps),
                                          (tracker.get_recent_metrics(), steps[-window:]
                                           if steps else [])):
                ref = self._reference(expected_steps)
                for key, value in ref.items():
                    got = getattr(scope, key)
                    assert got == pytest.approx(value, rel=1e-9, abs=1e-9, nan_ok=True), key
            hist = tracker.get_margin_stats()["counts"]
            assert sum(hist) == sum(math.isfinite(s[1]) for s in steps)

        check()
