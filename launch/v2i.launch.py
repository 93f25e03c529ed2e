"""One v2i_node (V2I-DETR student) on one camera (endoscope, ultrasound).

    ros2 launch video_perception v2i.launch.py camera:=/endoscope/image_raw \
        model_path:=/models/v2i_deformable backend:=auto namespace:=scope
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    config = PathJoinSubstitution([FindPackageShare('video_perception'), 'config', 'v2i.yaml'])
    return LaunchDescription([
        DeclareLaunchArgument('camera', default_value='/camera/image_raw',
                              description='image topic (sensor_msgs/Image or CompressedImage)'),
        DeclareLaunchArgument('model_path', description='V2I student bundle folder'),
        DeclareLaunchArgument('backend', default_value='auto',
                              description='auto | tensorrt | onnxruntime | torch'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node and its outputs'),
        DeclareLaunchArgument('input_type', default_value='raw',
                              description='raw (Image) or compressed (CompressedImage)'),
        DeclareLaunchArgument('params_file', default_value=config,
                              description='parameter YAML for the node'),
        Node(
            package='video_perception',
            executable='v2i_node',
            name='v2i_node',
            namespace=LaunchConfiguration('namespace'),
            output='screen',
            parameters=[LaunchConfiguration('params_file'), {
                'model_path': LaunchConfiguration('model_path'),
                'backend': LaunchConfiguration('backend'),
                'input_type': LaunchConfiguration('input_type'),
            }],
            remappings=[('image', LaunchConfiguration('camera'))],
        ),
    ])
