"""safe_pe_training: safe self-play core (ROS-free) and the training, metrics, policy nodes."""

__version__ = "0.1.0"
