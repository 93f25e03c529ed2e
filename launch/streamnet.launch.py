"""One streamnet_node on one camera.

    ros2 launch video_perception streamnet.launch.py camera:=/camera/image_raw \
        model_path:=/models/streamnet_s backend:=auto namespace:=front
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    config = PathJoinSubstitution([FindPackageShare('video_perception'), 'config',
                                   'streamnet.yaml'])
    return LaunchDescription([
        DeclareLaunchArgument('camera', default_value='/camera/image_raw',
                              description='image topic (sensor_msgs/Image or CompressedImage)'),
        DeclareLaunchArgument('model_path', description='StreamNet bundle folder'),
        DeclareLaunchArgument('backend', default_value='auto',
                              description='auto | tensorrt | onnxruntime | torch'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node and its outputs'),
        DeclareLaunchArgument('input_type', default_value='raw',
                              description='raw (Image) or compressed (CompressedImage)'),
        DeclareLaunchArgument('stamp_mode', default_value='input',
                              description='input (header copied) or forecast (t + one period)'),
        DeclareLaunchArgument('params_file', default_value=config,
                              description='parameter YAML for the node'),
        Node(
            package='video_perception',
            executable='streamnet_node',
            name='streamnet_node',
            namespace=LaunchConfiguration('namespace'),
            output='screen',
            parameters=[LaunchConfiguration('params_file'), {
                'model_path': LaunchConfiguration('model_path'),
                'backend': LaunchConfiguration('backend'),
                'input_type': LaunchConfiguration('input_type'),
                'stamp_mode': LaunchConfiguration('stamp_mode'),
            }],
            remappings=[('image', LaunchConfiguration('camera'))],
        ),
    ])
