"""safe_pe_sim: pursuit-evasion simulation core (ROS-free) and the simulator node."""

__version__ = "0.1.0"
