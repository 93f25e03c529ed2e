"""The StreamNet ROS 2 node: camera in, long-path feature buffer, forecast, detections out."""
