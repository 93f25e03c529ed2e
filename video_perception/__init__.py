"""video_perception: the ROS-free runtime shared by the StreamNet and V2I nodes.

Never imports rclpy at module level and never imports ``training``; see ../shared/DESIGN.md.
"""
__version__ = '0.1.0'
