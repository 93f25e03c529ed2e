"""The StreamNet ROS 2 node, an entry point only: the family is in
video_perception/families/streamnet.py."""
