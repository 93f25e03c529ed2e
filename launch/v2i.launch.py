"""One v2i_node (V2I-DETR student) on one camera (endoscope, ultrasound).

    ros2 launch video_perception v2i.launch.py camera:=/endoscope/image_raw \
        model_path:=/models/v2i_deformable backend:=auto namespace:=scope

Arguments: camera, namespace, model_path, backend, input_type, params_file
(``video_perception/ros_launch.py`` declares those every one-camera launch file takes).
"""
from video_perception.ros_launch import one_camera_launch


def generate_launch_description():
    return one_camera_launch('v2i_node', 'v2i.yaml', 'V2I student bundle folder')
