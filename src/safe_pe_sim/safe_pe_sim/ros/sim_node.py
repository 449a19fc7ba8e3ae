"""safe_pe_sim_node: steps the pursuit-evasion game and plays the world for the ROS graph.

::

    python -m safe_pe_sim.ros.sim_node --ros-args --params-file config/sim_node.yaml

Publishes ``/safe_pe/game_state``, ``/<robot>/odom`` (frame ``arena``, child
``<robot>/base_link``), ``/safe_pe/arena`` and ``/safe_pe/obstacle_markers`` (transient local,
re-sent at every reset), ``/safe_pe/episode_result`` at every episode end, optionally ``/clock``.
Subscribes to ``/<robot>/cmd_vel`` (Twist or TwistStamped, ``cmd_type``) and
``/<robot>/safety_status`` (to count filter interventions). Service
``/safe_pe/reset_episode``. The game itself is :class:`safe_pe_sim.game.PursuitEvasionGame`.

Each robot's base follows the actuator model of the profile (``RobotConfig.actuator``), which
the ``actuator.<role>.*`` parameters override at start-up and at run time (ramps and latency,
:mod:`safe_pe_sim.actuation`); the odometry twist reports the velocity the base held over the
last step, not the command.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from safe_pe_cbf.ros_common.conversions import (
    NonFiniteInput,
    arena_from_message,
    arena_message,
    command_from_twist,
    odometry_message,
)
from safe_pe_cbf.ros_common.executors import spin_until_shutdown
from safe_pe_cbf.ros_common.params import check_change, declare_specs, spec_values
from safe_pe_cbf.ros_common.qos import LATCHED, reliable_qos
from safe_pe_msgs.msg import Arena as ArenaMsg, EpisodeResult, GameState, SafetyStatus
from safe_pe_msgs.srv import ResetEpisode
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from safe_pe_sim.config import ArenaConfig, check_layout
from safe_pe_sim.game import PursuitEvasionGame, StepResult
from safe_pe_sim.vec_core import draw_base_seed
from safe_pe_sim.ros.command_gate import CommandGate
from safe_pe_sim.ros.sim_messages import (
    episode_result_message,
    game_state_message,
    initial_pose_problem,
    obstacle_markers,
    time_from_seconds,
)
from safe_pe_sim.ros.sim_params import SimNodeSettings, sim_settings_from_values, sim_specs

RELIABLE = reliable_qos(10)


class SimulatorNode(Node):
    """The simulator (thin shell around :class:`PursuitEvasionGame` and :class:`CommandGate`).

    :param node_name: ROS node name.
    :param clock: monotonic clock [s] of command/odometry ages and timeouts (tests pass a
        fake one so that what goes stale does not depend on the machine's speed).
    :param kwargs: passed to ``rclpy.node.Node`` (parameter_overrides, context, ...).
    """

    def __init__(self, node_name: str = "safe_pe_sim",
                 clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._monotonic = clock
        self._specs = sim_specs()
        declare_specs(self, self._specs)
        self.settings: SimNodeSettings = sim_settings_from_values(spec_values(self, self._specs))
        s = self.settings
        env = s.env.copy()  # the game's own: its actuators follow the parameters
        env.pursuer.actuator, env.evader.actuator = s.actuators
        self.game = PursuitEvasionGame(env.validate())
        self.gate = CommandGate(s.robots, s.cmd_timeout, s.max_hold_steps)
        self.total_steps = 0
        self.episode_id = -1
        self.episode_seed = -1
        self.episode_over = False
        self.violation_steps = 0
        self.intervention_steps = 0
        self._intervened = False
        self._last_step = self._monotonic()
        self.last_state: GameState | None = None

        self.state_pub = self.create_publisher(GameState, "/safe_pe/game_state", RELIABLE)
        self.arena_pub = self.create_publisher(ArenaMsg, "/safe_pe/arena", LATCHED)
        self.marker_pub = self.create_publisher(MarkerArray, "/safe_pe/obstacle_markers", LATCHED)
        self.result_pub = self.create_publisher(EpisodeResult, "/safe_pe/episode_result", RELIABLE)
        self.clock_pub = (
            self.create_publisher(Clock, "/clock", RELIABLE) if s.publish_clock else None
        )
        self.odom_pubs = [
            self.create_publisher(Odometry, f"/{name}/odom", RELIABLE) for name in s.robots
        ]
        cmd_type = TwistStamped if s.stamped else Twist
        for name in s.robots:
            self.create_subscription(
                cmd_type, f"/{name}/cmd_vel", lambda msg, n=name: self._on_cmd(n, msg), RELIABLE
            )
            self.create_subscription(
                SafetyStatus, f"/{name}/safety_status", self._on_safety_status, 10
            )
        self.create_service(ResetEpisode, "/safe_pe/reset_episode", self._on_reset)

        self._start_episode(seed=s.seed)
        self._step_timer = self.create_timer(self._timer_period(), self._on_timer)
        self._marker_timer = self.create_timer(s.markers_period, self._publish_layout)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.get_logger().info(
            f"simulator: {s.mode}, dt={s.env.dt} s, step period {self._timer_period():.4f} s, "
            f"robots {list(s.robots)}, seed {self.game.seed_value}"
        )

    # -- parameters ------------------------------------------------------------------------
    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        return check_change(
            self, self._specs, params,
            lambda values: sim_settings_from_values(values, env=self.settings.env))

    def _apply_parameters(self, params: list[Parameter]) -> None:
        self.settings = sim_settings_from_values(spec_values(self, self._specs),
                                                 env=self.settings.env)
        self.gate.cmd_timeout = self.settings.cmd_timeout
        if list(self.settings.actuators) != [r.actuator for r in self.game.config.robots()]:
            self.game.set_actuators(self.settings.actuators)
        self.gate.max_hold_steps = self.settings.max_hold_steps
        for timer in (self._step_timer, self._marker_timer):
            timer.cancel()
            self.destroy_timer(timer)
        self._step_timer = self.create_timer(self._timer_period(), self._on_timer)
        self._marker_timer = self.create_timer(self.settings.markers_period, self._publish_layout)
        self.get_logger().info(f"parameters updated: {', '.join(p.name for p in params)}")

    def _timer_period(self) -> float:
        s = self.settings
        if s.mode == "lock_step":  # poll for the lock-step timeout
            return max(min(s.lock_step_timeout / 5.0, 0.01), 0.0005)
        return s.step_period

    # -- inputs ----------------------------------------------------------------------------
    def _on_cmd(self, robot: str, msg: Twist | TwistStamped) -> None:
        try:
            v, omega = command_from_twist(msg)
        except NonFiniteInput as err:
            self.gate.drop(robot)
            self.get_logger().warning(f"dropped command of {robot}: {err}",
                                   throttle_duration_sec=1.0)
            return
        stamp = None
        if isinstance(msg, TwistStamped):
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        if not self.gate.receive(robot, v, omega, self._monotonic(), stamp):
            self.get_logger().debug(f"late command of {robot} ignored (stamp {stamp})")
            return
        if self.settings.mode == "lock_step" and self.gate.all_arrived() and not self.episode_over:
            self._step()

    def _on_safety_status(self, msg: SafetyStatus) -> None:
        if msg.intervened:
            self._intervened = True

    def _on_timer(self) -> None:
        now = self._monotonic()
        if self.episode_over:  # keep the world visible (at 1/dt) while waiting for a reset
            if now - self._last_step >= self.settings.env.dt:
                self._last_step = now
                self._publish_state(None)
            return
        if self.settings.mode == "free_running":
            self._step()
        elif now - self._last_step >= self.settings.lock_step_timeout:
            self._step()

    # -- stepping ----------------------------------------------------------------------------
    def _header(self) -> Header:
        if self.settings.publish_clock:
            stamp = time_from_seconds(self.total_steps * self.settings.env.dt)
        else:
            stamp = self.get_clock().now().to_msg()
        return Header(stamp=stamp, frame_id=self.settings.frame_id)

    def _step(self) -> None:
        now = self._monotonic()
        lock_step = self.settings.mode == "lock_step"
        cmds = self.gate.commands(now, lock_step=lock_step)
        result = self.game.step(cmds[0], cmds[1])
        self.gate.mark_stepped()
        self._last_step = now
        self.total_steps += 1
        if any(result.safety.violated):
            self.violation_steps += 1
        if self._intervened:
            self.intervention_steps += 1
            self._intervened = False
        if self.clock_pub is not None:
            self.clock_pub.publish(Clock(clock=time_from_seconds(self.total_steps
                                                                 * self.settings.env.dt)))
        self._publish_state(result)
        if result.terminated or result.truncated:
            if result.captured:
                outcome = EpisodeResult.OUTCOME_CAPTURE
            elif result.truncated:
                outcome = EpisodeResult.OUTCOME_TIMEOUT
            else:  # terminated by a violation (terminate_on_violation)
                outcome = EpisodeResult.OUTCOME_ABORTED
            self._publish_result(outcome)
            if self.settings.auto_reset:
                self._start_episode(seed=None, fresh_seed=False)
            else:
                self.episode_over = True

    def _publish_state(self, result: StepResult | None) -> None:
        header = self._header()
        msg = game_state_message(self.game, self.settings.robots, header, self.episode_id,
                                 result)
        self.state_pub.publish(msg)
        self.last_state = msg
        s = self.settings
        if s.mode == "lock_step" and s.match_stamp and s.stamped:
            self.gate.expect(header.stamp.sec * 1_000_000_000 + header.stamp.nanosec)
        else:
            self.gate.expect(None)
        for a, pub in enumerate(self.odom_pubs):
            pub.publish(odometry_message(
                np.asarray(self.game.poses[a]), self.game.velocities[a], header,
                f"{self.settings.robots[a]}/base_link"))

    def _publish_result(self, outcome: int) -> None:
        self.result_pub.publish(episode_result_message(
            self.game, self._header(), self.episode_id, self.episode_seed, outcome,
            self.violation_steps, self.intervention_steps))

    def _publish_layout(self) -> None:
        header = self._header()
        self.arena_pub.publish(arena_message(self.game.bounds, self.game.obstacles_array, header))
        self.marker_pub.publish(obstacle_markers(self.game.bounds, self.game.obstacles_array,
                                                 header))

    def _start_episode(
        self,
        seed: int | None,
        fresh_seed: bool = True,
        obstacles: np.ndarray | None = None,
        poses: np.ndarray | None = None,
    ) -> None:
        """Reset the game (``seed`` None + ``fresh_seed``: new random stream) and publish."""
        if seed is not None:
            self.game.reset(seed=seed, obstacles=obstacles, poses=poses)
            self.episode_seed = int(seed)
        elif fresh_seed:
            self.episode_seed = draw_base_seed()
            self.game.reset(seed=self.episode_seed, obstacles=obstacles, poses=poses)
        else:  # continue the current random stream
            self.game.reset(obstacles=obstacles, poses=poses)
            self.episode_seed = -1
        self._begin_episode()

    def _begin_episode(self) -> None:
        """Bookkeeping and publication of the episode the game was just reset to."""
        self.episode_id += 1
        self.episode_over = False
        self.violation_steps = 0
        self.intervention_steps = 0
        self._intervened = False
        self.gate.mark_stepped()
        self._last_step = self._monotonic()
        self._publish_layout()
        self._publish_state(None)

    # -- reset service -----------------------------------------------------------------------
    def _on_reset(self, req: ResetEpisode.Request,
                  resp: ResetEpisode.Response) -> ResetEpisode.Response:
        """All or nothing: the new world is built and reset as a candidate game, which
        replaces the running one only when everything succeeded. A refused reset leaves
        walls, obstacles, poses, random streams and the episode id as they were."""
        try:
            candidate, seed = self._reset_candidate(req)
        except ValueError as err:  # ConfigError / SimInputError are ValueErrors
            resp.success, resp.message = False, f"reset refused: {err}"
            resp.episode_id = max(self.episode_id, 0)
            return resp
        if self.game.step_count > 0 and not self.episode_over:
            self._publish_result(EpisodeResult.OUTCOME_ABORTED)
        self.game = candidate
        self.episode_seed = seed
        self._begin_episode()
        resp.success = True
        resp.episode_id = self.episode_id
        assert self.last_state is not None
        resp.state = self.last_state
        self.get_logger().info(f"episode {self.episode_id} started by reset_episode "
                               f"(seed {self.game.seed_value})")
        return resp

    def _reset_candidate(self, req: ResetEpisode.Request) -> tuple[PursuitEvasionGame, int]:
        """Validate a reset request and reset a new game to it: ``(game, seed)``.

        :param req: the request.
        :raises ValueError: what is wrong with the request (nothing of the node changed).
        """
        bounds = self.game.bounds
        obstacles = None
        if req.use_layout:
            bounds, obstacles = arena_from_message(req.layout)
            check_layout(bounds, obstacles, "reset layout")
        poses = None
        if req.use_initial_states:
            poses = np.array([[req.pursuer.x, req.pursuer.y, req.pursuer.theta],
                              [req.evader.x, req.evader.y, req.evader.theta]], dtype=float)
            radii = [r.radius for r in self.game.config.robots()]
            layout = obstacles if obstacles is not None else self.game.obstacles_array
            problem = initial_pose_problem(poses, radii, layout, bounds)
            if problem:
                raise ValueError(f"initial states rejected: {problem}")
        cfg = self.game.config.copy()
        cfg.arena = ArenaConfig(*bounds)
        candidate = PursuitEvasionGame(cfg)  # validates the walls
        candidate.safety_reward = self.game.safety_reward
        seed = int(req.seed) if req.seed >= 0 else draw_base_seed()
        candidate.reset(seed=seed, obstacles=obstacles, poses=poses)
        return candidate, seed


def main(args: list[str] | None = None) -> None:
    """Run the simulator until SIGINT (exit code 2 for invalid parameters).

    :param args: command-line arguments (``--ros-args ...``); default ``sys.argv``.
    """
    spin_until_shutdown(SimulatorNode, "safe_pe_sim", args)



if __name__ == "__main__":
    main()
