"""Install video_perception as a ROS 2 ament_python package or with plain pip."""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'video_perception'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*', 'docs', 'models']),
    # vision_msgs .msg texts: registered with rosbags and recorded into written bags
    package_data={'video_perception': ['msg_defs/*.msg']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        (os.path.join('share', PACKAGE, 'launch'), glob('launch/*launch.[pxy][yma]*')),
        (os.path.join('share', PACKAGE, 'config'), glob('config/*.yaml') + glob('config/*.xml')
         + glob('config/*.rviz')),
    ],
    # Pinned versions live in requirements.txt (what `make setup` installs); these are the ranges
    # the code is known to need. torch is an extra so a Jetson's own CUDA build is never replaced.
    install_requires=[
        'numpy>=1.24',
        'opencv-python-headless>=4.8',
        'onnxruntime>=1.17',
        'pyyaml>=6',
        'rosbags>=0.10',
        'cyclonedds>=0.10.5',
        'tqdm>=4.60',
        'pycocotools>=2.0.7',
        'matplotlib>=3.7',
        'scipy>=1.10',
    ],
    extras_require={
        'train': ['torch>=2.1', 'onnx>=1.15', 'onnxscript>=0.1', 'tensorboard>=2.14'],
        'test': ['pytest>=7', 'hypothesis>=6', 'pytest-xdist>=3'],
    },
    zip_safe=True,
    maintainer='video_perception maintainers',
    maintainer_email='maintainers@video-perception.dev',
    description='Real-time video object detection nodes (DAMO-StreamNet, V2I-DETR) for ROS 2',
    license='Apache-2.0',
    python_requires='>=3.10',
    entry_points={
        'console_scripts': [
            'streamnet_node = streamnet_ros.streamnet_node:main',
            'v2i_node = v2i_ros.v2i_node:main',
            'video-perception = video_perception.cli:main',
        ],
    },
)
