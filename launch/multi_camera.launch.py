"""One detector node per camera, each in its own namespace (Autoware's multiple_yolox pattern).

    ros2 launch video_perception multi_camera.launch.py \
        cameras:=/front/image_raw,/left/image_raw namespaces:=front,left \
        model_path:=/models/streamnet_s node:=streamnet_node

Outputs land in ``/<namespace>/detections`` etc., so pipelines never share topic names
(isaac_ros_object_detection#58). Each node loads its own model: on a small GPU prefer fewer,
larger cameras per node over many nodes (darknet_ros#54).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

CONFIGS = {'streamnet_node': 'streamnet.yaml', 'v2i_node': 'v2i.yaml'}


def _nodes(context):
    cameras = [c for c in LaunchConfiguration('cameras').perform(context).split(',') if c]
    spaces = [n for n in LaunchConfiguration('namespaces').perform(context).split(',') if n]
    executable = LaunchConfiguration('node').perform(context)
    if executable not in CONFIGS:
        raise ValueError(f"node:={executable}: expected one of {', '.join(CONFIGS)}")
    if not spaces:
        spaces = [f'camera{i}' for i in range(len(cameras))]
    if len(spaces) != len(cameras):
        raise ValueError(f'{len(cameras)} cameras but {len(spaces)} namespaces')
    config = PathJoinSubstitution([FindPackageShare('video_perception'), 'config',
                                   CONFIGS[executable]])
    return [Node(package='video_perception', executable=executable, name=executable,
                 namespace=space, output='screen',
                 parameters=[config, {'model_path': LaunchConfiguration('model_path'),
                                      'backend': LaunchConfiguration('backend')}],
                 remappings=[('image', camera)])
            for camera, space in zip(cameras, spaces)]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('cameras', description='comma-separated image topics'),
        DeclareLaunchArgument('namespaces', default_value='',
                              description='comma-separated namespaces (default camera0, ...)'),
        DeclareLaunchArgument('model_path', description='bundle folder'),
        DeclareLaunchArgument('node', default_value='streamnet_node',
                              description='streamnet_node or v2i_node'),
        DeclareLaunchArgument('backend', default_value='auto',
                              description='auto | tensorrt | onnxruntime | torch'),
        OpaqueFunction(function=_nodes),
    ])
