#!/usr/bin/env python3
"""Demo: recover known actuator limits from recordings generated with the actuator model.

For each case a recording is generated as the simulator's model produces it
(:func:`safe_pe_cbf.actuator.ramp_one` every control period, commands delayed by a FIFO of
``latency_steps`` periods, odometry reporting the held velocity plus Gaussian noise of
``--noise`` x v_max and x omega_max), driven by the manoeuvre docs/actuation_id.md asks for
(steps 0 -> v_max -> 0, turns to +omega_max and -omega_max, each held ~2 s, repeated). :func:`safe_pe_training.actuator_id.identify`
then estimates the limits; the table shows configured vs recovered and the error in %
(goal: within 10 %; the latency must come out exact, in control periods).

    python bench/identify_actuator.py [--noise 0.01] [--seed 0] [--repeats 3] [--csv out.csv]

``--source sim`` drives the simulator itself instead (:mod:`safe_pe_training.actuator_sim`:
:class:`~safe_pe_sim.game.PursuitEvasionGame` with the profile's actuator model, in an open
world where nothing can touch anything), both robots of each ``--profiles`` entry (a built-in
profile, a YAML path, or ``custom``: dt 0.1 s, two periods of latency, reversing bases with
other limits per robot), with ``--noise`` added to the held velocities its odometry reports:

    python bench/identify_actuator.py --source sim [--profiles diff_drive_nav2 custom]

``--csv FILE`` also writes one case's recording (``--csv-case``, default the first; with
``--source sim`` the cases are profile x robot in order), for ``safe_pe_train identify --csv
FILE``.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
from safe_pe_cbf.actuator import ActuatorLimits
from safe_pe_sim.config import load_profile
from safe_pe_sim.roles import ROLES

from safe_pe_training.actuator_id import ActuatorEstimate, identify
from safe_pe_training.actuator_log import Recording, write_csv
from safe_pe_training.actuator_sim import (custom_game, manoeuvres, model_recording,
                                           open_world, record_game, step_commands)

#: (v_max, omega_max, limits, dt): Nav2's smoother defaults and a TurtleBot3-like base
CASES = [
    (1.0, 2.84, ActuatorLimits(2.5, 2.5, 3.2, 1), 0.05),
    (1.0, 2.84, ActuatorLimits(2.5, 2.5, 3.2, 2), 0.05),
    (1.0, 2.84, ActuatorLimits(2.5, 4.0, 3.2, 1), 0.1),
    (0.22, 2.84, ActuatorLimits(1.0, 1.0, 2.0, 1), 0.1),
    (2.0, 4.0, ActuatorLimits(2.0, 3.0, 4.0, 0), 0.05),
]
#: the games ``--source sim`` drives by default
SIM_PROFILES = ["diff_drive_nav2", "turtlebot3_burger_ramped", "custom"]
LIMITS = ("linear_accel", "linear_decel", "angular_accel")


def report(case: str, dt: float, limits: ActuatorLimits, est: ActuatorEstimate) -> float:
    """Print the table rows of one case; return its largest error in % (inf: latency wrong).

    :param case: the case's label (first column)
    :param dt: control period [s]
    :param limits: the configured limits
    :param est: the estimate
    """
    worst = 0.0
    for name in LIMITS:
        want, got = getattr(limits, name), getattr(est, name).value
        err = 100.0 * (got - want) / want
        worst = max(worst, abs(err))
        print(f"| {case} | {dt:g} | {name} | {want:g} | {got:.3f} | {err:+.1f} % |")
    exact = est.latency_steps == limits.latency_steps
    print(f"| {case} | {dt:g} | latency_steps | {limits.latency_steps} | "
          f"{est.latency_steps} ({est.latency_s:.3f} s) | {'exact' if exact else 'WRONG'} |")
    for warning in est.warnings:
        print(f"  warning: {warning}")
    return worst if exact else math.inf


def model_cases(args: argparse.Namespace, rng: np.random.Generator
                ) -> list[tuple[str, float, ActuatorLimits, Recording]]:
    """The :data:`CASES` recorded with the model (``record``)."""
    out = []
    for v_max, omega_max, limits, dt in CASES:
        v_cmd, w_cmd = step_commands(v_max, omega_max, dt, 2.0, args.repeats, rng)
        rec = model_recording(limits, dt, v_cmd, w_cmd,
                              (args.noise * v_max, args.noise * omega_max), rng)
        out.append((f"v_max {v_max:g}", dt, limits, rec))
    return out


def sim_cases(args: argparse.Namespace, rng: np.random.Generator
              ) -> list[tuple[str, float, ActuatorLimits, Recording]]:
    """Both robots of every ``--profiles`` game, recorded from the simulator."""
    out = []
    for name in args.profiles:
        cfg = custom_game() if name == "custom" else load_profile(name)
        commands = manoeuvres(cfg, args.repeats)
        world = open_world(cfg, len(commands))
        recs = record_game(world, commands, seed=args.seed, noise=args.noise, rng=rng)
        for role, robot, rec in zip(ROLES, cfg.robots(), recs):
            if robot.actuator.ideal:
                print(f"  {name} {role}: ideal actuation (nothing to identify), skipped")
                continue
            out.append((f"{name} {role}", cfg.dt, robot.actuator, rec))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the cases and print the table; exit 1 if any estimate misses by more than 10 %."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=["model", "sim"], default="model",
                        help="record with the model (ramp_one + a FIFO) or the simulator")
    parser.add_argument("--profiles", nargs="+", default=SIM_PROFILES,
                        help="with --source sim: profiles (names, YAML paths, 'custom')")
    parser.add_argument("--noise", type=float, default=0.01,
                        help="odometry noise sigma as a fraction of v_max and omega_max")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, help="repeats of the manoeuvre (default 3 "
                        "with the model, 6 with the simulator)")
    parser.add_argument("--csv", help="write one case's recording to this CSV file")
    parser.add_argument("--csv-case", type=int, default=0,
                        help="which case --csv writes (index into the table's cases)")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.source == "model" else 6
    rng = np.random.default_rng(args.seed)
    print(f"source: {args.source}; odometry noise sigma {100 * args.noise:g} % of v_max and "
          f"omega_max; {args.repeats} repeats of the manoeuvre")
    cases = (model_cases if args.source == "model" else sim_cases)(args, rng)
    if args.csv and not 0 <= args.csv_case < len(cases):
        parser.error(f"--csv-case {args.csv_case}: there are {len(cases)} cases")
    worst = 0.0
    print("| case | dt | limit | configured | recovered | error |")
    print("|---|---|---|---|---|---|")
    for i, (case, dt, limits, rec) in enumerate(cases):
        if i == args.csv_case and args.csv:
            write_csv(args.csv, rec)
        worst = max(worst, report(case, dt, limits, identify(**rec.arrays(), dt=dt)))
    print(f"largest error {worst:.1f} % (goal <= 10 %, latency exact)")
    return 0 if worst <= 10.0 else 1


if __name__ == "__main__":
    sys.exit(main())
