"""Several cameras: one batched detector node (default) or one node per camera.

    ros2 launch video_perception multi_camera.launch.py \
        cameras:=/front/image_raw,/left/image_raw namespaces:=front,left \
        model_path:=/models/streamnet_s node:=streamnet_node [layout:=per_camera]

``layout:=batched`` (default) starts ONE node (one process, one model, one runtime) with the
``cameras`` parameter: the newest frame of every camera runs as one batch, each camera keeps its
own feature buffer, and the outputs land in ``/<namespace>/detections`` etc.
``layout:=per_camera`` is the older layout (Autoware's multiple_yolox pattern): one node per
camera in its own namespace, each loading its own model (darknet_ros#54: mind the GPU memory).
Both give the same output topics, so pipelines never share topic names
(isaac_ros_object_detection#58) and switching layouts changes no consumer.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

CONFIGS = {'streamnet_node': 'streamnet.yaml', 'v2i_node': 'v2i.yaml'}
LAYOUTS = ('batched', 'per_camera')


def _nodes(context):
    cameras = [c for c in LaunchConfiguration('cameras').perform(context).split(',') if c]
    spaces = [n for n in LaunchConfiguration('namespaces').perform(context).split(',') if n]
    executable = LaunchConfiguration('node').perform(context)
    layout = LaunchConfiguration('layout').perform(context)
    if executable not in CONFIGS:
        raise ValueError(f"node:={executable}: expected one of {', '.join(CONFIGS)}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout:={layout}: expected one of {', '.join(LAYOUTS)}")
    if not spaces:
        spaces = [f'camera{i}' for i in range(len(cameras))]
    if len(spaces) != len(cameras):
        raise ValueError(f'{len(cameras)} cameras but {len(spaces)} namespaces')
    config = PathJoinSubstitution([FindPackageShare('video_perception'), 'config',
                                   CONFIGS[executable]])
    model, backend = LaunchConfiguration('model_path'), LaunchConfiguration('backend')
    if layout == 'batched':
        return [Node(package='video_perception', executable=executable, name=executable,
                     output='screen',
                     parameters=[config, {'model_path': model, 'backend': backend,
                                          'cameras': cameras, 'camera_names': spaces,
                                          'batch_timeout_ms': LaunchConfiguration(
                                              'batch_timeout_ms')}])]
    return [Node(package='video_perception', executable=executable, name=executable,
                 namespace=space, output='screen',
                 parameters=[config, {'model_path': model, 'backend': backend}],
                 remappings=[('image', camera)])
            for camera, space in zip(cameras, spaces)]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('cameras', description='comma-separated image topics'),
        DeclareLaunchArgument('namespaces', default_value='',
                              description='comma-separated camera names / namespaces '
                                          '(default camera0, ...): outputs on '
                                          '/<name>/detections'),
        DeclareLaunchArgument('model_path', description='bundle folder'),
        DeclareLaunchArgument('node', default_value='streamnet_node',
                              description='streamnet_node or v2i_node'),
        DeclareLaunchArgument('layout', default_value='batched',
                              description='batched (one node, one model, all cameras) or '
                                          'per_camera (one node per camera)'),
        DeclareLaunchArgument('batch_timeout_ms', default_value='10.0',
                              description='batched: wait at most this long for a batch'),
        DeclareLaunchArgument('backend', default_value='auto',
                              description='auto | tensorrt | onnxruntime | torch'),
        OpaqueFunction(function=_nodes),
    ])
