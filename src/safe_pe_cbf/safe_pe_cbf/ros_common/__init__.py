"""ROS helpers shared by every safe_pe node: the filter's, the simulator's and training's.

A neutral module (no node lives here) in the package at the bottom of the dependency chain,
so the sim and training nodes need not import the filter's ``safe_pe_cbf.ros``:
``conversions`` (message <-> array), ``param_specs`` (rclpy-free parameter specs and checks),
``params`` (the one parameter-declaration helper), ``arena_params`` (the arena parameters
of the filter and game-state nodes), ``qos`` (shared QoS profiles),
``executors`` and ``shutdown`` (spinning and clean exits), ``testing`` (isolated contexts).
"""
