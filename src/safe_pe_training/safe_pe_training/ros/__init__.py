"""ROS 2 nodes of safe_pe_training: thin shells around the ROS-free core (imports rclpy)."""
