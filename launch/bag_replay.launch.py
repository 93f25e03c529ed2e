"""Replay a rosbag2 through a detector and record its outputs: offline evaluation on the robot.

    ros2 launch video_perception bag_replay.launch.py bag:=drive.mcap topic:=/camera/image_raw \
        model_path:=/models/streamnet_s out:=detections_bag

``ros2 bag play --clock`` publishes /clock and the node runs with ``use_sim_time`` so its
diagnostics are stamped in bag time; detection headers are copied from the images either way.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    config = PathJoinSubstitution([FindPackageShare('video_perception'), 'config',
                                   'streamnet.yaml'])
    topic = LaunchConfiguration('topic')
    return LaunchDescription([
        DeclareLaunchArgument('bag', description='rosbag2 to play (sqlite3 or mcap)'),
        DeclareLaunchArgument('topic', default_value='/camera/image_raw',
                              description='image topic inside the bag'),
        DeclareLaunchArgument('model_path', description='StreamNet bundle folder'),
        DeclareLaunchArgument('backend', default_value='auto',
                              description='auto | tensorrt | onnxruntime | torch'),
        DeclareLaunchArgument('rate', default_value='1.0', description='playback rate'),
        DeclareLaunchArgument('out', default_value='detections_bag',
                              description='output bag folder'),
        ExecuteProcess(cmd=['ros2', 'bag', 'record', '-o', LaunchConfiguration('out'),
                            '/detections', '/detections/labels', '/diagnostics', topic],
                       output='screen'),
        Node(package='video_perception', executable='streamnet_node', name='streamnet_node',
             output='screen',
             parameters=[config, {'model_path': LaunchConfiguration('model_path'),
                                  'backend': LaunchConfiguration('backend'),
                                  'reliability': 'best_effort', 'use_sim_time': True}],
             remappings=[('image', topic)]),
        ExecuteProcess(cmd=['ros2', 'bag', 'play', LaunchConfiguration('bag'), '--clock',
                            '--rate', LaunchConfiguration('rate')], output='screen'),
    ])
