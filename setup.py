"""Install video_perception as a ROS 2 ament_python package or with plain pip."""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'video_perception'
HERE = os.path.dirname(os.path.abspath(__file__))


def requirements(name):
    """The requirement lines of a requirements file ('-r' includes and comments dropped)."""
    with open(os.path.join(HERE, name), encoding='utf-8') as f:
        lines = [line.split('#')[0].strip() for line in f]
    return [line for line in lines if line and not line.startswith('-')]


def shipped_models():
    """models/<name>/* -> share/video_perception/models/<name>: model_path:=<name> finds them."""
    return [(os.path.join('share', PACKAGE, 'models', os.path.basename(d)),
             sorted(f for f in glob(os.path.join(d, '*')) if os.path.isfile(f)))
            for d in sorted(glob('models/*')) if os.path.isfile(os.path.join(d, 'model.json'))]


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*', 'docs', 'models']),
    # vision_msgs .msg texts: registered with rosbags and recorded into written bags
    package_data={'video_perception': ['msg_defs/*.msg', 'msg_defs/LICENSE']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        (os.path.join('share', PACKAGE, 'launch'), glob('launch/*launch.[pxy][yma]*')),
        (os.path.join('share', PACKAGE, 'config'), glob('config/*.yaml') + glob('config/*.xml')
         + glob('config/*.rviz')),
    ] + shipped_models(),
    # Ranges: requirements.txt (run time, Python 3.10-3.12, numpy 1.21+) and
    # requirements-train.txt; `make setup` installs the exact pins of requirements-dev.txt.
    # torch is in the train extra so a Jetson's own CUDA build is never replaced.
    install_requires=requirements('requirements.txt'),
    extras_require={
        'train': requirements('requirements-train.txt'),
        'test': ['pytest>=7', 'hypothesis>=6', 'pytest-xdist>=3', 'pytest-timeout>=2'],
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
