"""ROS 2 nodes of safe_pe_cbf: thin shells around the ROS-free core (imports rclpy)."""
