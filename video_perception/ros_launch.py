"""What the one-camera launch files share: one detector node reading one camera.

``launch/streamnet.launch.py`` and ``launch/v2i.launch.py`` are ``one_camera_launch`` with their
node, its parameter YAML and the launch arguments only that node takes. Only launch files import
this module: ``launch`` and ``launch_ros`` come with a ROS 2 installation, not with the package.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'video_perception'
# launch arguments passed on as node parameters of the same name: (name, default, description);
# model_path has no default (a bundle must be named), its description is the launch file's
NODE_PARAMETERS = (
    ('model_path', None, None),
    ('backend', 'auto', 'auto | tensorrt | onnxruntime | torch'),
    ('input_type', 'raw', 'raw (Image) or compressed (CompressedImage)'),
)


def _argument(name, default, description):
    if default is None:
        return DeclareLaunchArgument(name, description=description)
    return DeclareLaunchArgument(name, default_value=default, description=description)


def one_camera_launch(executable: str, config: str, model_description: str,
                      extra=()) -> LaunchDescription:
    """``executable`` (an installed node, also its name) on ``camera:=TOPIC`` in
    ``namespace:=NS``, with ``config/<config>`` as its default ``params_file``; ``extra``:
    (name, default, description) of the further launch arguments it takes as parameters."""
    params = [(name, default, model_description if name == 'model_path' else description)
              for name, default, description in NODE_PARAMETERS] + list(extra)
    config_path = PathJoinSubstitution([FindPackageShare(PACKAGE), 'config', config])
    return LaunchDescription([
        DeclareLaunchArgument('camera', default_value='/camera/image_raw',
                              description='image topic (sensor_msgs/Image or CompressedImage)'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node and its outputs'),
        *[_argument(*p) for p in params],
        DeclareLaunchArgument('params_file', default_value=config_path,
                              description='parameter YAML for the node'),
        Node(
            package=PACKAGE,
            executable=executable,
            name=executable,
            namespace=LaunchConfiguration('namespace'),
            output='screen',
            parameters=[LaunchConfiguration('params_file'),
                        {name: LaunchConfiguration(name) for name, _, _ in params}],
            remappings=[('image', LaunchConfiguration('camera'))],
        ),
    ])
