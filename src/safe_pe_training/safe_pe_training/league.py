"""The league: fixed reference evaluation of policies against scripted players.

A policy is judged by the capture rate it reaches against fixed scripted references, on
fixed evaluation seeds that training never uses (:data:`EVAL_SEED_BASE`; every training seed
is below it, see :func:`check_training_seed`):

* a pursuer plays the evaders ``flee``, ``aware_flee`` and ``random``;
* an evader plays the pursuers ``pure_pursuit`` and ``lead_pursuit``.

Each pairing reports the capture rate with its 95 % Wilson interval, the mean time to
capture, body-level violations, backup and intervention rates (:class:`LeagueEntry`). Every
pairing of one league plays the same game seeds (layouts and spawns), so rates are
comparable across policies, references and phases. The scripted pairings themselves
(:func:`scripted_table`) are the bars a learned policy should clear, measured the same way.

For self-play runs :func:`elo_ratings` fits Elo-style (Bradley-Terry) ratings to a round
robin of a run's checkpoints and the references (:func:`run_league`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from safe_pe_sim.observations import OBS_DIM
from safe_pe_sim.roles import ROLES

from safe_pe_training.action_mapping import BOX_OBS_DIM
from safe_pe_training.checkpoints import CheckpointError, load_policy, read_metadata
from safe_pe_training.config import ConfigError, SafeSelfPlayConfig
from safe_pe_training.evaluation import MatchResult, play_match
from safe_pe_training.factories import make_env_config
from safe_pe_training.opponents import Opponent, PolicyOpponent, baseline_opponent
from safe_pe_training.safe_vec_env import make_core, make_filters

__all__ = ["REFERENCES", "EVAL_SEED_BASE", "LeagueEntry", "check_training_seed",
           "wilson_interval", "reference_player", "play_references", "load_player",
           "league_of_checkpoint", "scripted_table", "elo_ratings", "run_league",
           "targets_met", "league_rows", "scripted_bar"]

REFERENCES: dict[str, tuple[str, ...]] = {
    "pursuer": ("flee", "aware_flee", "random"),
    "evader": ("pure_pursuit", "lead_pursuit"),
}
"""Scripted opponents each learning role is measured against."""

EVAL_SEED_BASE = 2_000_000_000
"""Game ``i`` of a league match uses seed ``EVAL_SEED_BASE + i`` (below 2**31)."""


def check_training_seed(seed: int, what: str = "training seed") -> int:
    """Refuse a training seed in the league's range (training must never see its games).

    :param seed: a seed a training env or model is about to use
    :param what: what the seed is, for the message
    :raises ConfigError: ``seed >= EVAL_SEED_BASE``
    """
    if seed >= EVAL_SEED_BASE:
        raise ConfigError(f"{what} {seed} reaches the league's evaluation seeds (>= "
                          f"{EVAL_SEED_BASE}); use a smaller config seed or fewer phases")
    return seed


def _other(role: str) -> str:
    return "evader" if role == "pursuer" else "pursuer"


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95 % (for ``z = 1.96``) Wilson score interval of a binomial rate.

    :param successes: successes k
    :param trials: trials n (0 gives ``(nan, nan)``)
    :param z: normal quantile
    """
    if trials <= 0:
        return float("nan"), float("nan")
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class LeagueEntry:
    """One pairing of a league.

    :param role: role of the evaluated player
    :param player: label of the evaluated player
    :param reference: label of its opponent (``baseline:<name>`` or a checkpoint)
    :param episodes: episodes played
    :param captures: episodes ended by capture
    :param capture_rate: captures / episodes
    :param ci_low: lower end of the 95 % Wilson interval of the capture rate
    :param ci_high: upper end of it
    :param mean_capture_time: mean time to capture over the captured episodes [s] (nan: none)
    :param violation_steps: body-level violation steps ``[pursuer, evader]``
    :param backup_rate: backup-tier share of steps ``[pursuer, evader]``
    :param intervention_rate: share of steps the filter changed a command ``[p, e]``
    """

    role: str
    player: str
    reference: str
    episodes: int
    captures: int
    capture_rate: float
    ci_low: float
    ci_high: float
    mean_capture_time: float
    violation_steps: list[int]
    backup_rate: list[float]
    intervention_rate: list[float]

    @property
    def win_rate(self) -> float:
        """The evaluated player's win rate: capture for a pursuer, escape for an evader."""
        return self.capture_rate if self.role == "pursuer" else 1.0 - self.capture_rate

    @classmethod
    def from_match(cls, role: str, match: MatchResult, dt: float) -> "LeagueEntry":
        """Summarise a match played by ``role``.

        :param role: role of the evaluated player
        :param match: the match
        :param dt: control period [s] (for the time to capture)
        """
        captures = int(round(match.capture_rate * match.episodes)) if match.episodes else 0
        low, high = wilson_interval(captures, match.episodes)
        player, ref = (match.pursuer, match.evader) if role == "pursuer" else \
            (match.evader, match.pursuer)
        return cls(role=role, player=player, reference=ref, episodes=match.episodes,
                   captures=captures, capture_rate=float(match.capture_rate), ci_low=low,
                   ci_high=high, mean_capture_time=float(match.mean_capture_steps) * dt,
                   violation_steps=list(match.violation_steps),
                   backup_rate=list(match.backup_rate),
                   intervention_rate=list(match.intervention_rate))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LeagueEntry":
        """Inverse of :meth:`to_dict` (``None`` back to nan; ``win_rate`` is derived).

        :param data: a dict written by :meth:`to_dict`
        """
        values = {k: data[k] for k in cls.__dataclass_fields__}
        for key in ("capture_rate", "ci_low", "ci_high", "mean_capture_time"):
            values[key] = float("nan") if values[key] is None else float(values[key])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON), with the win rate."""
        out = asdict(self)
        out["win_rate"] = self.win_rate
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in out.items()}


def reference_player(name: str, role: str, env_config: Any) -> Opponent:
    """The scripted reference ``name`` playing ``role``.

    :param name: a name of :data:`REFERENCES` (either role's), e.g. ``"aware_flee"``
    :param role: the role it plays
    :param env_config: the sim's ``EnvConfig``
    :raises ConfigError: unknown name, or a name that does not play ``role``
    """
    if role not in ROLES:
        raise ConfigError(f"role must be 'pursuer' or 'evader', got {role!r}")
    known = REFERENCES[_other(role)]
    if name not in known:
        everything = sorted(set(REFERENCES["pursuer"]) | set(REFERENCES["evader"]))
        hint = (f"a {role} reference is one of {list(known)}" if name in everything
                else f"known references: {everything}")
        raise ConfigError(f"unknown {role} reference {name!r}: {hint}")
    return baseline_opponent(name, env_config, role, seed=EVAL_SEED_BASE)


def play_references(player: Opponent, role: str, config: SafeSelfPlayConfig, episodes: int,
                    references: Sequence[str] | None = None,
                    env_config: Any = None, filters: Sequence[Any] | None = None
                    ) -> list[LeagueEntry]:
    """Play ``player`` (as ``role``) against each reference on the league's seeds.

    Filtered exactly as in training (both robots through their CBF resolvers when the
    config uses the filter; unfiltered in the solid world otherwise).

    :param player: the evaluated policy as an opponent object
    :param role: the role it plays
    :param config: the run's config (game, filter)
    :param episodes: episodes per reference (>= 1)
    :param references: reference names (default: ``REFERENCES[role]``)
    :param env_config: the sim config (default: built from ``config``)
    :param filters: the batched filters (default: built from ``config``)
    """
    if episodes < 1:
        raise ConfigError(f"a league needs >= 1 episode per pairing, got {episodes}")
    env_config = env_config if env_config is not None else make_env_config(config)
    if filters is None:
        filters = make_filters(config, env_config)
    names = REFERENCES[role] if references is None else tuple(references)
    out = []
    for name in names:
        ref = reference_player(name, _other(role), env_config)
        pursuer, evader = (player, ref) if role == "pursuer" else (ref, player)
        core = make_core(config, env_config, episodes, EVAL_SEED_BASE)
        match = play_match(core, pursuer, evader, episodes, filters, seed=EVAL_SEED_BASE)
        out.append(LeagueEntry.from_match(role, match, float(env_config.dt)))
    return out


def load_player(path: str | Path, config: SafeSelfPlayConfig, role: str | None = None
                ) -> tuple[str, Opponent]:
    """Load a checkpoint as a deterministic player, checked against the config.

    :param path: checkpoint weights or JSON
    :param config: the config it will play in
    :param role: the role it must have (None: whatever it is)
    :return: ``(role, player)``
    :raises CheckpointError: wrong role, observation size or policy type for the config
    """
    policy = load_policy(path, deterministic=True)
    if role is not None and policy.role != role:
        raise CheckpointError(f"{path} is a {policy.role} checkpoint, not a {role} one")
    want_type = "beta" if config.use_beta_policy else "gaussian"
    if policy.meta.policy_type != want_type:
        raise CheckpointError(
            f"{path} holds a {policy.meta.policy_type} policy but run {config.run_type} uses "
            f"{want_type} policies: evaluate it with its own run's config")
    want_dim = OBS_DIM + (BOX_OBS_DIM if policy.meta.policy_type == "beta" else 0)
    if policy.meta.obs_dim != want_dim:
        raise CheckpointError(
            f"{path} expects {policy.meta.obs_dim} observation entries, this version of "
            f"safe_pe gives {want_dim}: it was trained with another observation layout; "
            f"retrain it or use the safe_pe version that wrote it")
    return policy.role, PolicyOpponent(policy, label=Path(path).stem)


def league_of_checkpoint(path: str | Path, config: SafeSelfPlayConfig, episodes: int,
                         references: Sequence[str] | None = None) -> list[LeagueEntry]:
    """League of one checkpoint (its role's references).

    :param path: checkpoint weights or JSON
    :param config: the run config it plays in
    :param episodes: episodes per reference
    :param references: reference names (default: all for its role)
    """
    role, player = load_player(path, config)
    return play_references(player, role, config, episodes, references)


def scripted_table(config: SafeSelfPlayConfig, episodes: int) -> list[LeagueEntry]:
    """Every scripted pursuer reference against every scripted evader reference (the bars),
    reported from the pursuer's side.

    :param config: the run config (game, filter)
    :param episodes: episodes per pairing
    """
    env_config = make_env_config(config)
    filters = make_filters(config, env_config)
    out = []
    for name in REFERENCES["evader"]:
        pursuer = reference_player(name, "pursuer", env_config)
        out += play_references(pursuer, "pursuer", config, episodes, env_config=env_config,
                               filters=filters)
    return out


def elo_ratings(results: Sequence[tuple[str, str, int, int]], anchor: str | None = None,
                anchor_rating: float = 1000.0, iterations: int = 500) -> dict[str, float]:
    """Elo-style ratings (Bradley-Terry, 400 log10 scale) from pursuer-evader matches.

    A capture is a pursuer win, an escape an evader win. One virtual game against an average
    player (a win and a loss at half weight each) keeps the ratings of players that won or
    lost everything finite.

    :param results: ``(pursuer, evader, captures, episodes)`` per match
    :param anchor: player whose rating is fixed at ``anchor_rating`` (default: the mean of
        all ratings is ``anchor_rating``)
    :param anchor_rating: the anchor's rating
    :param iterations: MM iterations
    :return: rating per player label
    """
    players = sorted({r[0] for r in results} | {r[1] for r in results})
    if anchor is not None and anchor not in players:
        raise ValueError(f"anchor {anchor!r} played no match")
    index = {p: i for i, p in enumerate(players)}
    n = len(players)
    wins = np.full(n, 0.5)                  # the virtual game's half win
    games = np.zeros((n, n))
    for pursuer, evader, captures, episodes in results:
        i, j = index[pursuer], index[evader]
        wins[i] += captures
        wins[j] += episodes - captures
        games[i, j] += episodes
        games[j, i] += episodes
    strength = np.ones(n)
    for _ in range(iterations):
        denom = (games / (strength[:, None] + strength[None, :])).sum(axis=1) \
            + 1.0 / (strength + 1.0)        # the virtual game against strength 1
        new = wins / denom
        new /= math.exp(np.log(new).mean())
        if np.allclose(new, strength, rtol=1e-10, atol=0.0):
            strength = new
            break
        strength = new
    rating = 400.0 * np.log10(strength)
    offset = anchor_rating - (rating[index[anchor]] if anchor is not None else rating.mean())
    return {p: float(rating[index[p]] + offset) for p in players}


def run_league(run_dir: str | Path, episodes: int, max_per_role: int = 8,
               config: SafeSelfPlayConfig | None = None) -> dict[str, Any]:
    """Round robin of a run's checkpoints (at most ``max_per_role`` per role, evenly spaced
    over the run and always including the last) and the scripted references; Elo ratings
    anchored at ``pure_pursuit`` = 1000.

    :param run_dir: a training run directory
    :param episodes: episodes per match
    :param max_per_role: checkpoints kept per role
    :param config: the run's config (default: its ``config.yaml``)
    :return: ``{"matches": [...], "ratings": {label: elo}, "checkpoints": {label: info}}``
    """
    run_dir = Path(run_dir)
    config = config if config is not None else SafeSelfPlayConfig.from_yaml(
        run_dir / "config.yaml")
    env_config = make_env_config(config)
    filters = make_filters(config, env_config)
    players: dict[str, dict[str, Opponent]] = {role: {} for role in ROLES}
    info: dict[str, dict[str, Any]] = {}
    for role in ROLES:
        paths = sorted((run_dir / "checkpoints").glob(f"{role}_phase*.json"))
        if len(paths) > max_per_role:
            keep = np.unique(np.linspace(0, len(paths) - 1, max_per_role).round().astype(int))
            paths = [paths[k] for k in keep]
        for path in paths:
            _, player = load_player(path, config, role)
            meta = read_metadata(path)
            players[role][player.label] = player
            info[player.label] = {"role": role, "phase": meta.phase,
                                  "total_steps": meta.total_steps, "path": str(path)}
        for name in REFERENCES[role]:
            ref = reference_player(name, _other(role), env_config)
            players[_other(role)][ref.label] = ref
            info[ref.label] = {"role": _other(role), "phase": None, "total_steps": None,
                               "path": None}
    matches = []
    for p_label, pursuer in players["pursuer"].items():
        for e_label, evader in players["evader"].items():
            core = make_core(config, env_config, episodes, EVAL_SEED_BASE)
            match = play_match(core, pursuer, evader, episodes, filters, seed=EVAL_SEED_BASE)
            captures = int(round(match.capture_rate * match.episodes))
            matches.append({"pursuer": p_label, "evader": e_label, "captures": captures,
                            "episodes": match.episodes, "capture_rate": match.capture_rate,
                            "violation_steps": list(match.violation_steps)})
    ratings = elo_ratings([(m["pursuer"], m["evader"], m["captures"], m["episodes"])
                           for m in matches], anchor="baseline:pure_pursuit")
    return {"matches": matches, "ratings": ratings, "checkpoints": info}


def league_rows(phases: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per phase and reference of the per-phase league (``metrics/league.csv``).

    :param phases: per-phase records whose ``eval`` holds ``LeagueEntry.to_dict()`` values
    """
    rows = []
    for rec in phases:
        for key, entry in (rec.get("eval") or {}).items():
            rows.append({
                "phase": rec["phase"], "role": rec["role"], "total_steps": rec["total_steps"],
                "matchup": key, "reference": entry.get("reference"),
                "episodes": entry.get("episodes"), "capture_rate": entry.get("capture_rate"),
                "ci_low": entry.get("ci_low"), "ci_high": entry.get("ci_high"),
                "mean_capture_time": entry.get("mean_capture_time"),
                "violation_steps": sum(entry.get("violation_steps") or [0, 0]),
            })
    return rows


def scripted_bar(table: Sequence[LeagueEntry]) -> float:
    """The learning targets' bar: ``lead_pursuit``'s capture rate against ``aware_flee``
    (a learned pursuer must reach it against ``aware_flee``, a learned evader must not be
    caught more often by ``lead_pursuit``).

    :param table: :func:`scripted_table` entries (or any holding that pairing)
    :raises ValueError: the pairing is missing
    """
    for e in table:
        if e.player == "baseline:lead_pursuit" and e.reference == "baseline:aware_flee":
            return e.capture_rate
    raise ValueError("the table has no lead_pursuit vs aware_flee pairing")


def targets_met(entries: Sequence[LeagueEntry], bar: float) -> dict[str, bool]:
    """Which learning targets one player's league entries meet (docs/training.md).

    Pursuer: capture >= 0.95 vs ``flee`` and >= ``bar`` vs ``aware_flee``. Evader: caught
    <= 0.05 by ``pure_pursuit`` and <= ``bar`` by ``lead_pursuit``. Every pairing: no
    body-level violation.

    :param entries: league entries of one player
    :param bar: :func:`scripted_bar` measured on the same seeds
    """
    by_ref = {e.reference.removeprefix("baseline:"): e for e in entries}
    out: dict[str, bool] = {}
    if "flee" in by_ref:
        out["capture vs flee >= 0.95"] = by_ref["flee"].capture_rate >= 0.95
    if "aware_flee" in by_ref:
        out[f"capture vs aware_flee >= {bar:.3f}"] = by_ref["aware_flee"].capture_rate >= bar
    if "pure_pursuit" in by_ref:
        out["caught by pure_pursuit <= 0.05"] = by_ref["pure_pursuit"].capture_rate <= 0.05
    if "lead_pursuit" in by_ref:
        out[f"caught by lead_pursuit <= {bar:.3f}"] = by_ref["lead_pursuit"].capture_rate <= bar
    out["no violations"] = all(sum(e.violation_steps) == 0 for e in entries)
    return out
