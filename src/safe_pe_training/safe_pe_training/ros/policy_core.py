"""What the policy node computes, without ROS: game state -> nominal command ``(v, omega)``.

Two kinds of drivers, both called with the plain arrays of one game state
(:func:`safe_pe_training.ros.conversions.game_state_arrays`):

- :class:`ScriptedDriver`: a scripted baseline (pure pursuit for the pursuer, flee for the
  evader, or zero) so the live graph moves before the first checkpoint exists;
- :class:`CheckpointDriver`: a trained policy loaded weights-only with
  ``safe_pe_training.checkpoints.load_policy`` (torch);
- :class:`OnnxDriver`: the same policy exported with ``safe_pe_train export --onnx``, run on
  onnxruntime (no torch: :mod:`safe_pe_training.onnx_policy`).

Both build the observation exactly as in the training env: the simulator core's
``ObservationBuilder`` of the run's environment config, plus (for CBF-Beta policies) the
state's safe action box from the CBF core, encoded with ``action_mapping.normalise_box``. A
policy of the other role or of another observation size is refused (:class:`PolicyRefused`).

Commands are nominal: the safety filter downstream is what makes them safe.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Protocol

import numpy as np
from safe_pe_cbf.barriers import as_rows
from safe_pe_sim.observations import OBS_DIM, ObservationBuilder
from safe_pe_sim.roles import ROLES

from safe_pe_training.action_mapping import BOX_OBS_DIM, CommandLimits, normalise_box
from safe_pe_training.actuation_state import as_kwargs, held_actuation
from safe_pe_training.artifacts import CONFIG_FILE
from safe_pe_training.config import SafeSelfPlayConfig, get_run_configs
from safe_pe_training.factories import make_batched_filter, make_env_config
from safe_pe_training.onnx_policy import OnnxPolicy

FALLBACKS = ('auto', 'pure_pursuit', 'flee', 'zero')
BACKENDS = ('torch', 'onnx')


class Driver(Protocol):
    """Anything that turns a game state into this robot's nominal command."""

    description: str

    def command(self, state: Mapping[str, Any]) -> tuple[float, float]:
        """``(v, omega)`` for the state (``game_state_arrays`` output)."""


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


class ScriptedDriver:
    """A scripted baseline that steers by the heading error to a target direction.

    :param role: ``"pursuer"`` or ``"evader"``.
    :param kind: ``"pure_pursuit"`` (head for the opponent), ``"flee"`` (head away from the
        opponent, towards the arena centre near walls), ``"zero"`` (stand still) or
        ``"auto"`` (pure pursuit for the pursuer, flee for the evader).
    :param v_max: top linear speed [m/s] used by the baseline (0: the robot's own ``v_max``
        from the game state).
    :param omega_max: top turn rate [rad/s] (capped by the robot's own limit).
    :param gain: heading-error gain [1/s].
    """

    def __init__(self, role: str, kind: str = 'auto', v_max: float = 0.0,
                 omega_max: float = 10.0, gain: float = 3.0) -> None:
        if role not in ROLES:
            raise ValueError(f'role must be one of {ROLES}, got {role!r}')
        if kind not in FALLBACKS:
            raise ValueError(f'fallback must be one of {FALLBACKS}, got {kind!r}')
        if not (v_max >= 0.0 and omega_max > 0.0 and gain > 0.0):
            raise ValueError('v_max must be >= 0, omega_max and gain > 0')
        if kind == 'auto':
            kind = 'pure_pursuit' if role == 'pursuer' else 'flee'
        self.role, self.kind = role, kind
        self.v_max, self.omega_max, self.gain = float(v_max), float(omega_max), float(gain)
        self.agent = ROLES.index(role)
        self.description = f'scripted {kind}'

    def command(self, state: Mapping[str, Any]) -> tuple[float, float]:
        """Nominal ``(v, omega)`` of the baseline in this state."""
        if self.kind == 'zero':
            return 0.0, 0.0
        poses = state['poses']
        x, y, theta = (float(c) for c in poses[self.agent])
        ox, oy = float(poses[1 - self.agent][0]), float(poses[1 - self.agent][1])
        if self.kind == 'pure_pursuit':
            bearing = math.atan2(oy - y, ox - x)
        else:
            away = np.array([x - ox, y - oy])
            x_min, x_max, y_min, y_max = state['arena']
            centre = np.array([(x_min + x_max) / 2.0, (y_min + y_max) / 2.0]) - [x, y]
            size = max(x_max - x_min, y_max - y_min)
            # Blend towards the centre as the walls get close, so the evader does not pin
            # itself into a corner (the filter would stop it there).
            wall = min(x - x_min, x_max - x, y - y_min, y_max - y)
            weight = float(np.clip(1.0 - wall / (0.25 * size), 0.0, 1.0))
            direction = (away / (np.linalg.norm(away) + 1e-9)
                         + 2.0 * weight * centre / (np.linalg.norm(centre) + 1e-9))
            bearing = math.atan2(direction[1], direction[0])
        v_max, omega_max = self.v_max, self.omega_max
        limits = state.get('limits')
        if limits is not None:
            robot_v_max = float(limits[self.agent][1])
            robot_omega_max = float(limits[self.agent][2])
            if robot_v_max > 0.0:
                v_max = min(v_max, robot_v_max) if v_max > 0.0 else robot_v_max
            if robot_omega_max > 0.0:
                omega_max = min(omega_max, robot_omega_max)
        error = _wrap(bearing - theta)
        omega = float(np.clip(self.gain * error, -omega_max, omega_max))
        v = v_max * max(0.0, math.cos(error))
        return v, omega


def run_config_for(checkpoint: Path, fallback_config: str = '') -> Any:
    """The ``SafeSelfPlayConfig`` a checkpoint was trained with.

    Looks for the run's resolved config beside the checkpoint (``<run>/checkpoints/x.pt`` ->
    ``<run>/config.yaml``), then ``fallback_config``, then the preset of the checkpoint's
    ``run_type``.

    :param checkpoint: the weights file.
    :param fallback_config: a SafeSelfPlayConfig YAML to use if the run has none.
    :raises FileNotFoundError: if no config can be found.
    """
    from safe_pe_training.checkpoints import read_metadata  # torch: absent on robots

    for candidate in (checkpoint.parent.parent / CONFIG_FILE, checkpoint.parent / CONFIG_FILE):
        if candidate.is_file():
            return SafeSelfPlayConfig.from_yaml(candidate)
    if fallback_config:
        return SafeSelfPlayConfig.from_yaml(fallback_config)
    run_type = read_metadata(checkpoint).run_type
    presets = get_run_configs()
    if run_type in presets:
        return presets[run_type]
    raise FileNotFoundError(
        f'no run config for {checkpoint}: expected {checkpoint.parent.parent / CONFIG_FILE}; '
        f'set the policy node parameter training_config to the run\'s config YAML')


class PolicyRefused(ValueError):
    """A policy file does not fit this robot: wrong role, wrong observation size, wrong kind."""


class _PolicyDriver:
    """What both policy drivers share: the training env's observation of a game state.

    :param role: the robot's role.
    :param policy_role: the role the policy was trained for (must equal ``role``).
    :param policy_type: "beta" (safe box appended to the observation) or "gaussian".
    :param obs_dim: the policy's observation length.
    :param limits: the policy's command limits (``CommandLimits``).
    :param config: the ``SafeSelfPlayConfig`` of the run the policy comes from.
    :param path: the policy file (for messages).
    :raises PolicyRefused: wrong role, or an observation size this config does not build.
    """

    def __init__(self, role: str, policy_role: str, policy_type: str, obs_dim: int,
                 limits: Any, config: Any, path: Path) -> None:
        if role not in ROLES:
            raise ValueError(f'role must be one of {ROLES}, got {role!r}')
        if policy_role != role:
            raise PolicyRefused(f'{path} is a {policy_role} policy, this node drives the '
                                f'{role}')
        self.beta = policy_type == 'beta'
        expected = OBS_DIM + (BOX_OBS_DIM if self.beta else 0)
        if int(obs_dim) != expected:
            raise PolicyRefused(f'{path} expects observations of {obs_dim} entries, this '
                                f'{policy_type} policy\'s game builds {expected}: train and '
                                'deploy with the same simulator version and config')
        self.role, self.agent, self.obs_dim = role, ROLES.index(role), int(obs_dim)
        self.limits = limits
        self.env_config = make_env_config(config)
        self.builder = ObservationBuilder(self.env_config)
        # The training env's own safe-box path: the batched filter of this robot.
        self.box_filter = (make_batched_filter(config, role, self.env_config) if self.beta
                           else None)
        self.max_steps = int(self.env_config.max_steps)

    def observation(self, state: Mapping[str, Any]) -> np.ndarray:
        """The policy's observation of this state, as the training env builds it (float32).

        :param state: ``game_state_arrays`` output (poses, velocities, obstacles, step).
        """
        poses = np.asarray(state['poses'], dtype=np.float64).reshape(2, 3)
        velocities = np.asarray(state['velocities'], dtype=np.float64).reshape(2, 2)
        obstacles = as_rows(state['obstacles'])
        step = min(int(state['step']), self.max_steps)
        obs = self.builder.single(self.agent, [tuple(p) for p in poses],
                                  [tuple(v) for v in velocities],
                                  [tuple(o) for o in obstacles], step)
        if not self.beta:
            return np.asarray(obs, dtype=np.float32)
        mask = np.ones((1, obstacles.shape[0]), dtype=bool)
        # under the actuator model: the held velocities, commands in flight assumed steady
        act = held_actuation(self.box_filter.config, velocities, self.agent)
        lo, hi, _ = self.box_filter.action_box(poses[None, self.agent], obstacles[None], mask,
                                               poses[None, 1 - self.agent], **as_kwargs(act))
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.maximum(np.asarray(hi, dtype=np.float64), lo)
        encoded = normalise_box(lo, hi, self.limits)[0]
        return np.concatenate([np.asarray(obs, dtype=np.float32), encoded]).astype(np.float32)

    def _act(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def command(self, state: Mapping[str, Any]) -> tuple[float, float]:
        """Nominal ``(v, omega)`` of the policy in this state."""
        obs = self.observation(state)
        if obs.shape[0] != self.obs_dim:
            raise ValueError(f'observation has {obs.shape[0]} entries, the policy expects '
                             f'{self.obs_dim}: train and deploy with the same config')
        v, omega = self._act(obs)
        return float(v), float(omega)


class CheckpointDriver(_PolicyDriver):
    """A trained policy on torch: observation as in training, weights-only checkpoint.

    :param checkpoint: path of the ``.pt`` weights (JSON metadata beside it), or
        ``"pretrained"`` for the shipped model of ``role`` (``safe_pe_training.pretrained``).
    :param role: the robot's role; must match the checkpoint's.
    :param deterministic: act with the policy's mode instead of sampling.
    :param training_config: SafeSelfPlayConfig YAML if the run directory has no config.
    :raises safe_pe_training.checkpoints.CheckpointError: corrupt checkpoint;
        PolicyRefused: wrong role or observation size.
    """

    backend = 'torch'

    def __init__(self, checkpoint: str | Path, role: str, deterministic: bool = True,
                 training_config: str = '') -> None:
        # torch: only this (training-machine) driver needs it, the ONNX one does not
        from safe_pe_training.checkpoints import load_policy
        from safe_pe_training.pretrained import resolve_checkpoint

        self.path = resolve_checkpoint(checkpoint, role).resolve()
        if self.path.suffix == '.onnx':
            raise PolicyRefused(f'{self.path} is an ONNX policy: set backend:=onnx')
        self.policy = load_policy(self.path, deterministic=deterministic)
        meta = self.policy.meta
        super().__init__(role, self.policy.role, meta.policy_type, self.policy.obs_dim,
                         self.policy.limits, run_config_for(self.path, training_config),
                         self.path)
        self.description = (f'{meta.policy_type} policy {self.path.name} (phase {meta.phase}, '
                            f'{meta.total_steps} steps, run {meta.run_type})')

    def _act(self, obs: np.ndarray) -> np.ndarray:
        return self.policy(obs)


class OnnxDriver(_PolicyDriver):
    """An exported policy on onnxruntime (no torch): ``safe_pe_train export --onnx``.

    Acts with the policy's mode. The observation is built from the run config stored in the
    ONNX metadata (or ``training_config`` if the export has none).

    :param path: the ``.onnx`` file (JSON metadata beside it).
    :param role: the robot's role; must match the policy's.
    :param training_config: SafeSelfPlayConfig YAML used if the metadata has no config.
    :raises safe_pe_training.onnx_policy.OnnxPolicyError: missing/corrupt files;
        PolicyRefused: wrong role, observation size or file kind.
    """

    backend = 'onnx'

    def __init__(self, path: str | Path, role: str, training_config: str = '') -> None:
        self.path = Path(path).expanduser().resolve()
        if self.path.suffix != '.onnx':
            raise PolicyRefused(f'{self.path} is not an ONNX policy (.onnx): export it with '
                                '`safe_pe_train export --onnx CHECKPOINT --out FILE.onnx` or '
                                'set backend:=torch')
        self.policy = OnnxPolicy(self.path)
        meta = self.policy.meta
        if meta.config:
            config = SafeSelfPlayConfig.from_dict(meta.config)
        elif training_config:
            config = SafeSelfPlayConfig.from_yaml(training_config)
        else:
            raise FileNotFoundError(f'{self.path} has no run config in its metadata: set the '
                                    'policy node parameter training_config')
        super().__init__(role, meta.role, meta.policy_type, meta.obs_dim,
                         CommandLimits.from_dict(meta.limits), config, self.path)
        self.description = (f'{meta.policy_type} policy {self.path.name} (onnx, phase '
                            f'{meta.phase}, {meta.total_steps} steps, run {meta.run_type})')

    def _act(self, obs: np.ndarray) -> np.ndarray:
        return self.policy(obs)
