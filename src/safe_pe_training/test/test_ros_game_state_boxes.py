"""game_state_arrays: the policy node sees the arena's box obstacles as the simulator does."""

from __future__ import annotations

import math

import numpy as np
import pytest
from safe_pe_cbf.ros_common.conversions import arena_message
from safe_pe_msgs.msg import GameState

from safe_pe_training.ros.conversions import game_state_arrays


def test_boxes_reach_the_policy_as_rows_with_their_kind():
    rows = np.array([[1.0, 1.0, 0.3, 0.0, 0.0, 0.0], [0.5, -1.0, 0.4, 0.0, 0.3, 1.0]])
    msg = GameState()
    msg.arena = arena_message((-2.0, 2.0, -3.0, 3.0), rows)
    out = game_state_arrays(msg)
    np.testing.assert_array_equal(out['obstacles'], rows)
    msg.arena = arena_message((-2.0, 2.0, -3.0, 3.0), rows[:1, :3])
    assert game_state_arrays(msg)['obstacles'].shape == (1, 3)  # circles keep (K, 3)
    msg.arena.boxes = arena_message((-2.0, 2.0, -3.0, 3.0), rows).boxes
    msg.arena.boxes[0].angle = math.nan
    with pytest.raises(ValueError, match='obstacles'):
        game_state_arrays(msg)
