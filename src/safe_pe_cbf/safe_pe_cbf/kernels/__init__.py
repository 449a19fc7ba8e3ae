"""The filter's maths, written once: scalar kernels of one robot that numba compiles
(:mod:`safe_pe_cbf.jit`) and that run as plain Python where numba is absent (the robot).

* :mod:`~safe_pe_cbf.kernels.rows`: the packed constants' layout and the sampled-data CBF
  rows of one robot (walls, the robot pair, each obstacle through :mod:`safe_pe_cbf.barriers`);
* :mod:`~safe_pe_cbf.kernels.qp`: the exact 2-variable QP;
* :mod:`~safe_pe_cbf.kernels.backup`: the certified backup command;
* :mod:`~safe_pe_cbf.kernels.tiers`: the resolver's tiers (nominal, QP, relaxed, backup);
* :mod:`~safe_pe_cbf.kernels.box`: the safe action box of the CBF-Beta policy;
* :mod:`~safe_pe_cbf.kernels.actuated`: the rows under the actuator model (docs/actuation.md);
* :mod:`~safe_pe_cbf.kernels.loops`: the batched filter, a loop over the above.

Their Python callers validate inputs and pack constants: :mod:`safe_pe_cbf.constraints`,
:mod:`~safe_pe_cbf.resolver`, :mod:`~safe_pe_cbf.bounds`, :mod:`~safe_pe_cbf.batch`.
"""
