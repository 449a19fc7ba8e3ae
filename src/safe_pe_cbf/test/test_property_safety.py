"""Property test: zero body-level violations under the TRUE sampled-data dynamics.

Both robots are filtered (BatchedSafetyFilter, "shared" collision mode) from the same sampled
state; commands are held for dt while the unicycles move on exact arcs, checked at >= 10
sub-steps per control step against obstacles, walls and each other (body disks around the
axle, no margin). Nominal commands are adversarial: full speed, steered at the nearest
obstacle, at a wall, at the other robot, or spinning. Hypothesis draws the scenario and the
filter parameters; in total >= 1e5 control steps (env steps; each has two filtered robots).
At every sub-step the VCP-level barriers are checked too (h >= 0 on the whole interval is
what the sampled-data condition guarantees): without the arc-deviation term c dt of
docs/cbf.md this check fails within the first steps, without the VCP offset in the radii the
body-level check fails.

The integrator is written here on purpose: safe_pe_cbf must not import safe_pe_sim.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from closed_loop import adversarial_commands, checked_step, pair_filters, safe_start
from safe_pe_cbf.geometry import Arena

SUBSTEPS = 10
BODY_TOL = 1e-9  # [m] floating-point slack on the body-level check
TOTAL_STEPS = {"env": 0, "checked_substeps": 0, "interventions": 0, "robot_steps": 0}


def sample_start(rng, N, arena, n_obstacles, filters, opp_filters):
    """Obstacles and poses with every barrier >= 0 (the filter's precondition)."""
    size = arena.x_max - arena.x_min
    obstacles = np.concatenate([rng.uniform(0.5, size - 0.5, (N, n_obstacles, 2)),
                                rng.uniform(0.1, 0.5, (N, n_obstacles, 1))], axis=2)
    return safe_start(rng, obstacles, arena, (filters, opp_filters))


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking: 1024 envs
# explicit cases: the research scenario, and the sharpest sampled-data case (gamma = 1 leaves
# no decay margin: only the arc-deviation term c dt^2 keeps the body clear)
@example(seed=1, gamma=0.5, vcp_offset=0.05, dt=0.05, v_min=0.0, radius=0.15,
         evader_speed=1.1, n_obstacles=2, size=4.0)
@example(seed=2, gamma=1.0, vcp_offset=0.05, dt=0.1, v_min=0.0, radius=0.15,
         evader_speed=1.2, n_obstacles=4, size=3.0)
@given(seed=st.integers(0, 2**31 - 1),
       gamma=st.sampled_from([0.1, 0.3, 0.5, 0.8, 1.0]),
       vcp_offset=st.floats(0.02, 0.15),
       dt=st.sampled_from([0.02, 0.05, 0.1]),
       v_min=st.sampled_from([0.0, -0.3]),
       radius=st.floats(0.1, 0.25),
       evader_speed=st.floats(1.0, 1.2),
       n_obstacles=st.integers(1, 4),
       size=st.floats(2.5, 6.0))
def test_zero_body_violations_under_adversarial_commands(seed, gamma, vcp_offset, dt, v_min,
                                                         radius, evader_speed, n_obstacles,
                                                         size):
    rng = np.random.default_rng(seed)
    N, T = 1024, 30
    arena = Arena(0.0, size, 0.0, size)
    radii = np.array([radius, radius])
    fp, fe = pair_filters(arena, gamma, dt, v_min, radius, vcp_offset, evader_speed)
    obstacles, poses = sample_start(rng, N, arena, n_obstacles, fp, fe)
    mode = rng.integers(0, 4, (N, 2))
    for step in range(T):
        if step % 5 == 0:
            mode = rng.integers(0, 4, (N, 2))
        nominal = adversarial_commands(rng, poses, obstacles, arena, mode, 1.0, 2.84)
        nominal[:, 1, 0] = evader_speed
        u_p, rec_p = fp.resolve(poses[:, 0], nominal[:, 0], obstacles, None, poses[:, 1])
        u_e, rec_e = fe.resolve(poses[:, 1], nominal[:, 1], obstacles, None, poses[:, 0])
        cmds = np.stack([u_p, u_e], axis=1)
        assert np.all(np.isfinite(cmds))
        # bodies, and (stronger) the VCP-level barriers, never go negative between samples
        poses = checked_step(poses, cmds, dt, arena, obstacles, radii, (fp, fe), step,
                             SUBSTEPS, BODY_TOL)
        TOTAL_STEPS["interventions"] += int(rec_p.intervened.sum() + rec_e.intervened.sum())
    TOTAL_STEPS["env"] += N * T
    TOTAL_STEPS["robot_steps"] += 2 * N * T
    TOTAL_STEPS["checked_substeps"] += N * T * SUBSTEPS


def test_enough_steps_were_checked():
    """Runs after the property test (same module): >= 1e5 control steps in total."""
    if TOTAL_STEPS["env"] == 0:
        pytest.skip("counts the steps of the property test: run the whole module")
    assert TOTAL_STEPS["env"] >= 100_000, TOTAL_STEPS
    print(f"\nproperty test: {TOTAL_STEPS['env']} env steps, {TOTAL_STEPS['robot_steps']} "
          f"filtered robot steps, {TOTAL_STEPS['interventions']} interventions, "
          f"0 body violations")
