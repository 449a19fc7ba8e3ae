"""Policy node: the robot's nominal command from the game state, at a fixed rate.

Subscribes to ``/safe_pe/game_state``, publishes ``cmd_vel_nominal`` (relative: run it in the
robot's namespace, e.g. ``/pursuer/cmd_vel_nominal``) for the safety filter. Drives a trained
checkpoint (weights-only) when one is given or announced on ``/safe_pe/training/checkpoint``
for its role (hot reload), else a scripted baseline, so the live graph moves from the start.
``backend:=onnx`` runs policies exported with ``safe_pe_train export --onnx`` on onnxruntime
instead of torch (a robot without torch).

Safe fallbacks: no or stale game state -> publishes nothing (the filter's watchdog stops the
robot); a checkpoint that fails to load (or is of the other role or observation size) ->
keeps the current driver and logs why; a policy that throws or returns non-finite values ->
publishes nothing for that tick; shutdown -> one zero command.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.node import Node
from safe_pe_msgs.msg import CheckpointInfo, GameState
from safe_pe_cbf.ros_common.executors import spin_until_shutdown
from safe_pe_cbf.ros_common.params import ParameterError, declare

from safe_pe_training.ros.conversions import CMD_TYPES, game_state_arrays, make_twist, twist_type
from safe_pe_training.ros.qos import CHECKPOINT_QOS, CHECKPOINT_TOPIC
from safe_pe_training.ros.policy_core import (
    BACKENDS,
    FALLBACKS,
    ROLES,
    CheckpointDriver,
    Driver,
    OnnxDriver,
    ScriptedDriver,
)

NODE_NAME = 'safe_pe_policy'


class PolicyNode(Node):
    """Publishes a nominal command for one robot from a checkpoint or a scripted baseline."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        """Create the node.

        :param clock: monotonic clock [s] that the game state's age is measured on (tests pass
            a fake one so that what goes stale does not depend on the machine's speed).
        :param kwargs: passed to ``rclpy.node.Node`` (``cli_args``, ``parameter_overrides``,
            ``namespace``, ``context``...).
        """
        super().__init__(NODE_NAME, **kwargs)
        self._monotonic = clock
        default_role = self.get_namespace().strip('/').split('/')[-1]
        self.role: str = declare(
            self, 'role', default_role if default_role in ROLES else 'pursuer',
            'Game role this node drives (default: the namespace if it is a role).',
            choices=ROLES)
        self.checkpoint: str = declare(
            self, 'checkpoint', '', 'Policy to load at start: .pt weights (backend torch) or '
            '.onnx (backend onnx); "" = none, "pretrained" = the shipped model of this role.')
        self.follow = declare(
            self, 'follow_checkpoints', True,
            'Hot-reload checkpoints of our role announced on /safe_pe/training/checkpoint.')
        self.training_config: str = declare(
            self, 'training_config', '',
            'SafeSelfPlayConfig YAML used if a checkpoint\'s run directory has no config.')
        rate = declare(self, 'rate', 20.0, 'Nominal command rate [Hz].',
                       min_value=0.5, max_value=200.0)
        self.cmd_type: str = declare(self, 'cmd_type', 'twist',
                                     'Message type of cmd_vel_nominal; must equal the '
                                     'filter\'s nominal_cmd_type.', choices=CMD_TYPES)
        self.deterministic = declare(self, 'deterministic', True,
                                     'Act with the policy\'s mode instead of sampling.')
        self.backend: str = declare(
            self, 'backend', 'torch', 'Inference of trained policies: "torch" (.pt '
            'checkpoints) or "onnx" (.onnx from `safe_pe_train export --onnx`, on '
            'onnxruntime; needs no torch).', choices=BACKENDS)
        if self.backend == 'onnx' and not self.deterministic:
            raise ParameterError('backend onnx acts with the policy\'s mode: set '
                                 'deterministic:=true or backend:=torch')
        fallback = declare(self, 'fallback', 'auto',
                           'Scripted baseline used until a checkpoint is loaded.',
                           choices=FALLBACKS)
        self.fallback_speed = declare(self, 'fallback_speed', 0.0,
                                      'Top linear speed of the scripted baseline [m/s] '
                                      '(0: the robot\'s v_max from the game state).',
                                      min_value=0.0, max_value=10.0)
        self.state_timeout = declare(self, 'state_timeout', 0.5,
                                     'Game state older than this [s] -> publish nothing.',
                                     min_value=0.01, max_value=60.0)
        self.base_frame: str = declare(self, 'base_frame', 'base_link',
                                       'frame_id of TwistStamped commands.')
        self._lock = threading.Lock()
        self._state: GameState | None = None
        self._state_time = 0.0
        self._scripted = ScriptedDriver(self.role, fallback, v_max=self.fallback_speed)
        self._driver: Driver = self._scripted
        self._loading = threading.Lock()
        self._load_thread: threading.Thread | None = None
        self._loaded_path = ''
        self._pending = ''
        self.commands_published = 0
        self.reloads = 0
        self.failed_loads = 0
        self._warned: set[str] = set()

        self._pub = self.create_publisher(twist_type(self.cmd_type), 'cmd_vel_nominal', 10)
        self.create_subscription(GameState, '/safe_pe/game_state', self._on_state, 10)
        if self.checkpoint:
            self.load(self.checkpoint)
        if self.follow:
            self.create_subscription(CheckpointInfo, CHECKPOINT_TOPIC,
                                     self._on_checkpoint, CHECKPOINT_QOS)
            # Loading runs in its own callback group: the command timer keeps ticking.
            self.create_timer(0.2, self._load_pending,
                              callback_group=MutuallyExclusiveCallbackGroup())
        self._timer = self.create_timer(1.0 / rate, self._tick)
        self.get_logger().info(f'{self.role}: driving with {self._driver.description} at '
                               f'{rate:g} Hz (follow checkpoints: {self.follow})')

    @property
    def driver_description(self) -> str:
        """What drives the robot now."""
        return self._driver.description

    def load(self, path: str) -> bool:
        """Load a checkpoint and switch to it; keep the current driver if it fails.

        :param path: weights file.
        :return: whether the new checkpoint is now driving.
        """
        with self._loading:
            try:
                driver: Driver
                if self.backend == 'onnx':
                    driver = OnnxDriver(path, self.role, self.training_config)
                else:
                    driver = CheckpointDriver(path, self.role, self.deterministic,
                                              self.training_config)
            except Exception as exc:  # noqa: BLE001 - any load failure keeps the old driver
                self.get_logger().error(
                    f'cannot load checkpoint {path!r} ({type(exc).__name__}: {exc}); still '
                    f'driving with {self._driver.description}')
                self.failed_loads += 1
                return False
            with self._lock:
                self._driver = driver
                self._loaded_path = str(driver.path)
            self.reloads += 1
            self.get_logger().info(f'{self.role}: now driving with {driver.description}')
            return True

    def _on_checkpoint(self, msg: CheckpointInfo) -> None:
        # Only remember the newest: a late joiner gets several announcements at once
        # (transient local) and must load just the last one.
        if msg.role == self.role and msg.path:
            if self.backend == 'onnx' and not msg.path.endswith('.onnx'):
                self._warn_once('onnx-follow', f'backend onnx: ignoring announced checkpoint '
                                f'{msg.path} (export it with safe_pe_train export --onnx)')
                return
            with self._lock:
                self._pending = msg.path

    def _load_pending(self) -> None:
        # Load in a thread of its own: on a single-threaded executor (the stack's events
        # executor) a load inside this callback would hold up every node of the process.
        if self._load_thread is not None and self._load_thread.is_alive():
            return                      # a load is running; the newest path waits its turn
        with self._lock:
            path, self._pending = self._pending, ''
        if path and path != self._loaded_path:
            self._load_thread = threading.Thread(target=self.load, args=(path,),
                                                 name=f'load-{self.role}', daemon=True)
            self._load_thread.start()

    def _on_state(self, msg: GameState) -> None:
        with self._lock:
            self._state = msg
            self._state_time = self._monotonic()

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.get_logger().warning(text)

    def _tick(self) -> None:
        with self._lock:
            msg, age, driver = self._state, self._monotonic() - self._state_time, self._driver
        if msg is None or age > self.state_timeout:
            return
        try:
            v, omega = driver.command(game_state_arrays(msg))
            out = make_twist(v, omega, self.cmd_type,
                             self.get_clock().now().to_msg(), self.base_frame)
        except Exception as exc:  # noqa: BLE001 - never crash the command loop
            self._warn_once(type(exc).__name__, f'no command this tick: {exc}')
            return
        self._pub.publish(out)
        self.commands_published += 1

    def stop(self) -> None:
        """Stop the command loop and publish one zero command."""
        timer = getattr(self, '_timer', None)
        if timer is None:      # the constructor failed before the command loop existed
            return
        timer.cancel()
        try:
            self._pub.publish(make_twist(0.0, 0.0,
                                         self.cmd_type,
                                         self.get_clock().now().to_msg(), self.base_frame))
            # The process may exit right after: let the filter acknowledge the zero first.
            self._pub.wait_for_all_acked(Duration(seconds=0.5))
        except Exception:  # noqa: BLE001 - context may already be shut down
            pass

    def destroy_node(self) -> None:
        """Publish a zero nominal command, then destroy the node."""
        self.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run one policy node until Ctrl-C.

    :param args: command-line arguments for ``rclpy.init`` (default: ``sys.argv``).
    """
    spin_until_shutdown(PolicyNode, NODE_NAME, args, threads=2)


if __name__ == '__main__':
    main()
