"""The league: Wilson intervals, Elo ratings, targets, bad input, PFSP mixtures, and a short
training run whose league result beats an untrained policy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch as th

from safe_pe_training.checkpoints import CheckpointError
from safe_pe_training.config import ConfigError, get_run_configs
from safe_pe_training.league import (EVAL_SEED_BASE, LeagueEntry, check_training_seed,
                                     elo_ratings, load_player, play_references,
                                     reference_player, scripted_bar, targets_met,
                                     wilson_interval)
from safe_pe_training.factories import make_env_config
from safe_pe_training.league_report import time_to_competence
from safe_pe_training.opponent_pool import PFSP_FLOOR, OpponentPool
from safe_pe_training.opponents import MixtureOpponent, PolicyOpponent
from safe_pe_training.self_play import SelfPlayTrainer
from training_fixtures import tiny_config

th.set_num_threads(1)


def _entry(role: str, reference: str, captures: int, episodes: int = 100,
           violations: int = 0, player: str = "p") -> LeagueEntry:
    low, high = wilson_interval(captures, episodes)
    return LeagueEntry(role=role, player=player, reference=f"baseline:{reference}",
                       episodes=episodes, captures=captures, capture_rate=captures / episodes,
                       ci_low=low, ci_high=high, mean_capture_time=float("nan"),
                       violation_steps=[violations, 0], backup_rate=[0.0, 0.0],
                       intervention_rate=[0.0, 0.0])


def test_wilson_interval_known_values():
    # textbook value: 8 of 10 -> (0.490, 0.943)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 100)[0] == 0.0 and 0.0 < wilson_interval(0, 100)[1] < 0.05
    assert wilson_interval(100, 100)[1] == pytest.approx(1.0)
    assert wilson_interval(100, 100)[0] > 0.95
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    # more games, narrower interval around the same rate
    w10 = np.subtract(*wilson_interval(5, 10)[::-1])
    w1000 = np.subtract(*wilson_interval(500, 1000)[::-1])
    assert w1000 < w10 / 5


def test_league_entry_dict_has_win_rate_and_json_safe_nans():
    pursuer = _entry("pursuer", "flee", 90).to_dict()
    evader = _entry("evader", "pure_pursuit", 10).to_dict()
    assert pursuer["win_rate"] == 0.9 and evader["win_rate"] == pytest.approx(0.9)
    assert pursuer["mean_capture_time"] is None
    json.dumps(pursuer, allow_nan=False)


def test_elo_ratings_order_anchor_and_symmetry():
    results = [("strong", "weak_e", 95, 100), ("weak", "weak_e", 50, 100),
               ("strong", "strong_e", 50, 100), ("weak", "strong_e", 5, 100)]
    r = elo_ratings(results, anchor="weak", anchor_rating=1000.0)
    assert r["weak"] == pytest.approx(1000.0)
    assert r["strong"] > r["weak"] + 200 and r["strong_e"] > r["weak_e"] + 200
    # 50 % between strong and strong_e: nearly equal ratings
    assert abs(r["strong"] - r["strong_e"]) < 60
    # default anchor: the mean is 1000
    assert np.mean(list(elo_ratings(results).values())) == pytest.approx(1000.0)
    # a player that won everything still gets a finite rating
    assert all(math.isfinite(v) for v in elo_ratings([("a", "b", 10, 10)]).values())
    with pytest.raises(ValueError, match="played no match"):
        elo_ratings(results, anchor="nobody")


def test_targets_and_scripted_bar():
    table = [_entry("pursuer", "aware_flee", 38, player="baseline:lead_pursuit"),
             _entry("pursuer", "aware_flee", 4, player="baseline:pure_pursuit")]
    assert scripted_bar(table) == 0.38
    with pytest.raises(ValueError, match="lead_pursuit vs aware_flee"):
        scripted_bar(table[1:])
    good = targets_met([_entry("pursuer", "flee", 96), _entry("pursuer", "aware_flee", 40),
                        _entry("pursuer", "random", 90)], bar=0.38)
    assert all(good.values()) and len(good) == 3
    bad = targets_met([_entry("pursuer", "flee", 94), _entry("pursuer", "aware_flee", 40,
                                                              violations=1)], bar=0.38)
    assert bad == {"capture vs flee >= 0.95": False, "capture vs aware_flee >= 0.380": True,
                   "no violations": False}
    evader = targets_met([_entry("evader", "pure_pursuit", 5),
                          _entry("evader", "lead_pursuit", 39)], bar=0.38)
    assert evader == {"caught by pure_pursuit <= 0.05": True,
                      "caught by lead_pursuit <= 0.380": False, "no violations": True}


def test_bad_references_and_seeds_are_named():
    env_config = make_env_config(get_run_configs()["A"])
    assert reference_player("flee", "evader", env_config).label == "baseline:flee"
    with pytest.raises(ConfigError, match="known references"):
        reference_player("teleport", "evader", env_config)
    with pytest.raises(ConfigError, match="a pursuer reference is one of"):
        reference_player("flee", "pursuer", env_config)
    with pytest.raises(ConfigError, match="role must be"):
        reference_player("flee", "referee", env_config)
    assert check_training_seed(EVAL_SEED_BASE - 1) == EVAL_SEED_BASE - 1
    with pytest.raises(ConfigError, match="evaluation seeds"):
        check_training_seed(EVAL_SEED_BASE)
    with pytest.raises(ConfigError, match=">= 1 episode"):
        play_references(None, "pursuer", get_run_configs()["A"], 0)


def test_pfsp_mixture_keeps_newest_and_weights_by_loss_rate():
    pool = OpponentPool("evader", max_snapshots=4, latest_prob=0.5)  # keeps 1, 3, 5, 7
    for name in ("flee", "aware_flee", "random"):
        pool.add_baseline(name)
    pool.add_checkpoint("/x/evader_phase0001", 1)
    pool.add_checkpoint("/x/evader_phase0003", 3)
    pool.record("flee", wins=10, games=10)        # always beaten: weight = floor
    pool.record("aware_flee", wins=0, games=10)   # never beaten: weight = 1 + floor
    assert pool.pfsp_weight(pool.entries[0]) == pytest.approx(PFSP_FLOOR)
    assert pool.pfsp_weight(pool.entries[1]) == pytest.approx(1.0 + PFSP_FLOOR)
    # records decay: one more phase at 0 % halves the estimate
    pool.record("flee", wins=0, games=10)
    assert pool.win_rates["flee"] == pytest.approx(0.5)

    rng = np.random.default_rng(0)
    pool.add_checkpoint("/x/evader_phase0005", 5)
    pool.add_checkpoint("/x/evader_phase0007", 7)
    picks = {}
    for _ in range(300):
        chosen, shares = pool.mixture(rng, size=2, reference_prob=0.3)
        share = {e.ref: w for e, w in zip(chosen, shares)}
        assert sum(shares) == pytest.approx(1.0) and len(chosen) == 5
        assert share["/x/evader_phase0007"] == 0.5                      # newest
        assert sum(share[n] for n in ("flee", "aware_flee", "random")) == pytest.approx(0.3)
        # the never-beaten reference gets most of the references' share
        assert share["aware_flee"] / share["flee"] == pytest.approx(1.05 / 0.3)
        older = [r for r in share if r.startswith("/x/") and r != "/x/evader_phase0007"]
        assert len(older) == 1 and share[older[0]] == pytest.approx(0.2)
        picks[older[0]] = picks.get(older[0], 0) + 1
    assert set(picks) == {"/x/evader_phase0001", "/x/evader_phase0003", "/x/evader_phase0005"}
    # no older snapshot, no reference share: the newest plays every game
    solo = OpponentPool("pursuer", latest_prob=0.4)
    solo.add_checkpoint("/x/p0", 0)
    assert solo.mixture(rng, size=4, reference_prob=0.0) == ([solo.entries[0]], [1.0])
    with pytest.raises(ValueError, match="reference_prob"):
        pool.mixture(rng, size=2, reference_prob=0.6)
    with pytest.raises(ValueError, match=">= 1 entry"):
        pool.mixture(rng, size=0)
    with pytest.raises(RuntimeError, match="empty"):
        OpponentPool("pursuer").mixture(rng, size=2)


class _Const:
    """An opponent that always sends one command and remembers the rows it was asked for."""

    needs_box = False

    def __init__(self, value: float, label: str) -> None:
        self.value, self.label, self.rows = value, label, []

    def act(self, view):
        self.rows.append(view.num_envs)
        return np.full((view.num_envs, 2), self.value)


class _View:
    def __init__(self, n: int) -> None:
        self.num_envs = n


def test_mixture_opponent_routes_rows_and_tallies_wins():
    a, b = _Const(1.0, "a"), _Const(2.0, "b")
    mix = MixtureOpponent([a, b], [1.0, 1.0], num_envs=64, rng=np.random.default_rng(3))
    assert set(np.unique(mix.assignment)) == {0, 1}
    only_b = MixtureOpponent([a, b], [0.0, 1.0], num_envs=5, rng=np.random.default_rng(0))
    assert np.all(only_b.act(_View(5)) == 2.0) and b.rows == [5] and a.rows == []
    games = np.arange(10)
    won = np.array([True] * 4 + [False] * 6)
    expected = {lbl: [0, 0] for lbl in ("a", "b")}
    for g, w in zip(games, won):
        lbl = mix.labels[mix.assignment[g]]
        expected[lbl][0] += int(w)
        expected[lbl][1] += 1
    mix.episodes_done(games, won)
    assert mix.tally == expected
    with pytest.raises(ValueError, match="one weight per opponent"):
        MixtureOpponent([a], [1.0, 2.0], 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="finite"):
        MixtureOpponent([a, b], [0.0, float("nan")], 4, np.random.default_rng(0))


def test_short_run_beats_untrained_policy_and_checks_players(tmp_path):
    """One pursuer phase of 16 k steps: its league capture vs ``flee`` and ``random`` (fixed
    evaluation seeds, deterministic players) clearly beats the same network untrained."""
    config = tiny_config("A", phases=1, eval_episodes=0)
    config.num_envs = 8
    config.ppo.n_steps, config.ppo.batch_size, config.ppo.n_epochs = 128, 256, 10
    config.ppo.net_arch = [64, 64]
    config.self_play.steps_per_phase = config.total_timesteps = 16_384
    config.env.overrides = {}
    config.validate()
    trainer = SelfPlayTrainer(config, tmp_path / "run", progress_bar=False)
    trainer._build()
    untrained = PolicyOpponent(trainer.deployed("pursuer"), label="untrained")
    before = play_references(untrained, "pursuer", config, 30, ["flee", "random"])
    trainer.train()
    path = tmp_path / "run" / "checkpoints" / "pursuer_phase0000.json"
    role, trained = load_player(path, config, "pursuer")
    after = play_references(trained, "pursuer", config, 30, ["flee", "random"])
    gain = sum(a.capture_rate for a in after) - sum(b.capture_rate for b in before)
    assert gain >= 0.4, (before, after)
    assert all(sum(e.violation_steps) == 0 for e in before + after)

    # bad players: wrong role, wrong policy type for the config, other observation size
    with pytest.raises(CheckpointError, match="not a evader"):
        load_player(path, config, "evader")
    with pytest.raises(CheckpointError, match="gaussian policies"):
        load_player(path, get_run_configs()["C"])
    meta = json.loads(path.read_text())
    meta["obs_dim"] += 3
    other = tmp_path / "other.json"
    other.write_text(json.dumps(meta))
    (tmp_path / "other.pt").write_bytes(path.with_suffix(".pt").read_bytes())
    with pytest.raises(CheckpointError):
        load_player(other, config)


def _phase(phase: int, role: str, rates: dict[str, int]) -> dict:
    return {"phase": phase, "role": role, "total_steps": 100 * (phase + 1),
            "checkpoint": f"{role}_phase{phase:04d}.pt",
            "eval": {f"{role} vs {ref}": _entry(role, ref, c).to_dict()
                     for ref, c in rates.items()}}


def test_time_to_competence_needs_both_latest_players():
    entry = _entry("pursuer", "flee", 96)
    assert LeagueEntry.from_dict(entry.to_dict()).capture_rate == entry.capture_rate
    assert math.isnan(LeagueEntry.from_dict(entry.to_dict()).mean_capture_time)
    phases = [_phase(0, "pursuer", {"flee": 90, "aware_flee": 10}),
              _phase(1, "evader", {"pure_pursuit": 3, "lead_pursuit": 20}),   # evader ok
              _phase(2, "pursuer", {"flee": 97, "aware_flee": 40}),           # pursuer ok
              _phase(3, "evader", {"pure_pursuit": 30, "lead_pursuit": 20}),  # evader lost it
              _phase(4, "pursuer", {"flee": 99, "aware_flee": 50})]
    reached = time_to_competence(phases, bar=0.38)
    assert reached["evader"]["phase"] == 1 and reached["pursuer"]["phase"] == 2
    assert reached["both"]["phase"] == 2
    assert reached["both"]["checkpoints"] == {"pursuer": "pursuer_phase0002.pt",
                                              "evader": "evader_phase0001.pt"}
    assert time_to_competence(phases[:1] + phases[3:], 0.38)["both"] is None
    assert time_to_competence([], 0.38) == {"pursuer": None, "evader": None, "both": None}
