"""The row of a distance barrier from its outward unit normal: shared by every barrier type."""

from __future__ import annotations

from safe_pe_cbf.jit import njit

__all__ = ["normal_row"]


@njit(cache=True, inline="always")
def normal_row(nx, ny, h, cth, sth, d):  # pragma: no cover - compiled
    """``(gv, gw, h)``: the row ``gv v + gw omega`` of a barrier whose gradient at the VCP is
    the outward unit normal ``(nx, ny)`` (``dh/dt = n . J(theta) u``, ``J`` the VCP Jacobian).

    :param nx: normal x
    :param ny: normal y
    :param h: the barrier value
    :param cth: cos(theta) of the robot
    :param sth: sin(theta) of the robot
    :param d: VCP offset [m]
    """
    return -(nx * cth + ny * sth), -(d * (ny * cth - nx * sth)), h
