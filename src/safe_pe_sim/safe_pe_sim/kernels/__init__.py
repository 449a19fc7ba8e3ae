"""The simulator's per-robot and per-game maths, written once and compiled by numba.

Each kernel here works on one robot or one game with scalar arguments (plus the game's
obstacle rows), the pattern of the filter's kernels (issue 13 item 1). Both paths call them:
the single game (:class:`~safe_pe_sim.game.PursuitEvasionGame`) once per robot or game, the
vector core (:class:`~safe_pe_sim.vec_core.VectorizedPursuitEvasion`) and the batched
functions of :mod:`~safe_pe_sim.dynamics`, :mod:`~safe_pe_sim.safety_check`,
:mod:`~safe_pe_sim.rewards`, :mod:`~safe_pe_sim.actions` and :mod:`~safe_pe_sim.baselines`
through the compiled loops of :mod:`.loops`, so the two agree bit for bit. Without numba (or
with ``NUMBA_DISABLE_JIT=1``) everything runs as plain Python (:mod:`safe_pe_cbf.jit`):
correct, and the single game stays usable, but the loops are then slow.

Map (each name below is re-exported here: ``from safe_pe_sim import kernels`` is the API):

- :mod:`.motion`: angle wrapping and the exact unicycle arc (:func:`wrap`, :func:`unicycle`,
  :func:`arc_fill`), the action map and the actuators' input (:func:`physical`,
  :func:`command`);
- :mod:`.safety`: the body-level safety check of one game (:func:`check_game`, with
  :func:`surface`, :func:`game_args` and the violation bits :data:`OBSTACLE`, :data:`ARENA`,
  :data:`COLLISION`);
- :mod:`.contact`: the solid-world contact of one game (:func:`contact_game`);
- :mod:`.rules`: the rewards and the end-of-step rules of one game (:func:`reward_pair`,
  :func:`outcome`);
- :mod:`.steering`: the scripted steering laws (:func:`steer`, :func:`pursue`,
  :func:`flee_from`, :func:`aware_flee_one`);
- :mod:`.loops`: one compiled loop over rows or games per kernel (``*_rows``, ``*_games``: the
  batched forms).

The kernels call each other across these modules, and numba stamps a cached function with
its own file only: a compiled caller would keep stale code of a changed callee in a sibling
file. Every module therefore calls ``depends_on_core(__file__, also=<this package>)``
(:func:`safe_pe_cbf.jit.depends_on_core`), which keys its cache on every file of this
package and on the filter package's core modules (the box barrier is compiled in): any change
recompiles them all once. Keep every compiled caller of these kernels inside this package.
"""

from __future__ import annotations

from .contact import contact_game
from .loops import (arc_rows, aware_flee_rows, check_games, command_games, contact_games,
                    flee_rows, outcome_games, physical_rows, pursue_rows, reward_rows,
                    steer_rows, unicycle_rows)
from .motion import arc_fill, command, physical, unicycle, wrap
from .rules import outcome, reward_pair
from .safety import ARENA, COLLISION, OBSTACLE, check_game, game_args, surface
from .steering import aware_flee_one, flee_from, pursue, steer

__all__ = ["OBSTACLE", "ARENA", "COLLISION", "wrap", "unicycle", "arc_fill", "physical",
           "command", "surface", "check_game", "game_args", "contact_game", "reward_pair",
           "outcome", "steer", "pursue", "flee_from", "aware_flee_one", "unicycle_rows",
           "arc_rows", "physical_rows", "command_games", "check_games", "contact_games",
           "reward_rows", "outcome_games", "steer_rows", "pursue_rows", "flee_rows",
           "aware_flee_rows"]
