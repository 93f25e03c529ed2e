"""One streamnet_node on one camera.

    ros2 launch video_perception streamnet.launch.py camera:=/camera/image_raw \
        model_path:=/models/streamnet_s backend:=auto namespace:=front

Arguments: camera, namespace, model_path, backend, input_type, stamp_mode, params_file
(``video_perception/ros_launch.py`` declares those every one-camera launch file takes).
"""
from video_perception.ros_launch import one_camera_launch


def generate_launch_description():
    return one_camera_launch(
        'streamnet_node', 'streamnet.yaml', 'StreamNet bundle folder',
        extra=[('stamp_mode', 'input', 'input (header copied) or forecast (t + one period)')])
