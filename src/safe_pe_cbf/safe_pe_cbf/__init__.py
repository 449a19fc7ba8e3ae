"""safe_pe_cbf: the VCP-CBF safety filter core (ROS-free) and the safety-filter node."""

__version__ = "0.1.0"
