"""The two roles of the game, by agent index: the one definition every package imports.

Agent index 0 is the pursuer and 1 the evader everywhere (arrays shaped ``(N, 2, ...)``,
``EnvConfig.robots()``, ``AgentState.ROLE_*``).
"""

from __future__ import annotations

from .errors import SimInputError

__all__ = ["ROLES", "role_index"]

ROLES = ("pursuer", "evader")
"""Agent names by index."""


def role_index(role: str) -> int:
    """0 for ``"pursuer"``, 1 for ``"evader"``.

    :param role: agent name.
    :raises SimInputError: for any other name.
    """
    if role not in ROLES:
        raise SimInputError(f"role must be 'pursuer' or 'evader', got {role!r}")
    return ROLES.index(role)
