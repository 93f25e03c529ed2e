"""The README runs (issue 23 item 6): every command of every ```bash block of README.md is run,
as written, on the shipped data, so a documented command cannot break silently.

Blocks are read from README.md at collection time: a block someone adds is run by default. A
command that cannot run here is listed in ``NOT_HERE`` with the reason (a robot, a GPU, a ROS
install, another terminal, hours of CPU) and shows up as a skip naming it; an entry that no longer
matches a README command fails ``test_not_here_entries_are_in_the_readme``, so the table stays
honest. ``BUDGET`` appends arguments that bound a long command (later flags and ``key=value``
win) and ``SLOW`` marks the blocks that take minutes. Placeholder inputs the README names
(``drive.mcap``, ``dataset.json``) are made by ``_props`` from a synthetic clip.

Commands run in one workspace per test (``models`` and ``../shared`` as in a checkout), in
order, each in its own process; each must exit 0 without a traceback.
"""
from __future__ import annotations

import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from engine_subprocess import child_env, REPO

BIN = pathlib.Path(sys.executable).parent

# exact README command (continuations joined, trailing comment cut) -> why it does not run here
NOT_HERE = {
    'make demo': 'the whole demo (minutes); scripts/demo.py is tested by its own tests',
    'make test': 'the test suite itself',
    'sudo apt install ros-$ROS_DISTRO-vision-msgs ros-$ROS_DISTRO-cv-bridge python3-pip':
        'a robot with apt and a ROS 2 distribution',
    'cd ~/ws/src && git clone <this repo> video_perception': 'a ROS workspace and a clone URL',
    'python3 -m pip install --user -r video_perception/requirements.txt "numpy<2"':
        'a ROS workspace (Humble); the pins are checked by test_requirements',
    'python3 -m pip install --user --break-system-packages -r video_perception/requirements.txt '
    '"numpy<2"': 'a ROS workspace (Jazzy); the pins are checked by test_requirements',
    'cd ~/ws && colcon build --packages-select video_perception && source install/setup.bash':
        'a ROS workspace with colcon',
    'video-perception build-engine streamnet_tiny_synth --fp16': 'a GPU with TensorRT',
    'video-perception check-bundle streamnet_tiny_synth --backend tensorrt': 'a GPU with TensorRT',
    'ros2 launch video_perception streamnet.launch.py camera:=/camera/image_raw '
    'model_path:=streamnet_tiny_synth': 'a ROS 2 install with launch (test_launch_ros)',
    'ros2 launch video_perception v2i.launch.py camera:=/endoscope/image_raw '
    'model_path:=v2i_distill_tiny_vocalfolds': 'a ROS 2 install with launch (test_launch_ros)',
    'ros2 launch video_perception multi_camera.launch.py cameras:=/front/image_raw,'
    '/left/image_raw namespaces:=front,left model_path:=streamnet_tiny_synth':
        'a ROS 2 install with launch (test_launch_ros)',
    'video-perception import yolox yolox_s.pth --model yolox_s --out models/yolox_s_coco':
        'a released checkpoint the user downloads; test_import_cmd imports the official-layout '
        'fixtures of all five layouts with this command',
    'video-perception check-bundle models/yolox_s_coco --image street.jpg':
        'the bundle of the import above; test_check_bundle runs check-bundle on shipped bundles',
    'ros2 launch video_perception streamnet.launch.py camera:=/camera/image_raw '
    'model_path:=$PWD/models/yolox_s_coco': 'a ROS 2 install with launch (test_launch_ros)',
    'rviz2 -d $(ros2 pkg prefix video_perception)/share/video_perception/config/'
    'video_perception.rviz': 'a display and rviz2',
    '.venv/bin/streamnet_node --ros-args -r image:=/camera/image_raw -p '
    'model_path:=models/streamnet_tiny_synth -p backend:=onnxruntime &':
        'three terminals at once (node, publisher, listener); test_node_e2e_dds runs the chain',
    '.venv/bin/video-perception publish ../shared/data/argoverse_hd_sample/frames --topic '
    '/camera/image_raw --rate 10': 'the publisher of the three-terminal chain above',
    '.venv/bin/video-perception echo /detections --type Detection2DArray':
        'the listener of the three-terminal chain: it runs until stopped',
    'video-perception convert FORMAT SRC OUT': 'a placeholder; each format has test_convert_*',
    'torchrun --nproc_per_node=4 -m training.train streamnet_s_argoverse':
        'four processes training StreamNet-S on Argoverse-HD (hours, real data); DDP is '
        'test_engine_ddp',
    'video-perception train streamnet_tiny_synth max_epoch=30':
        '30 epochs (about 25 min); test_readme_train runs this block at max_epoch=1',
    'video-perception train streamnet_tiny_synth resume=auto':
        'resumes the run above; test_readme_train runs it',
    'video-perception export --checkpoint runs/streamnet_tiny_synth/last.pt --out my_bundle':
        'exports the run above; test_readme_train runs it',
    'video-perception check-bundle my_bundle --image frame.png':
        'checks the bundle the skipped export makes (test_check_bundle runs check-bundle)',
}
# command prefix -> arguments appended to bound it
BUDGET = {
    'video-perception synth driving runs/data/': ['--frames', '8'],
    'video-perception train streamnet_s_argoverse --dry-run': [],
}
# command prefixes of blocks that take minutes on 2 cores (run with -m slow)
SLOW = ('video-perception export streamnet_s ', 'video-perception train streamnet_s_argoverse',
        'video-perception replay runs/driving_clip/dataset.json --model '
        'models/streamnet_tiny_synth --latency')


def readme_blocks():
    """[(id, [command, ...])] of README.md's ```bash blocks, in order."""
    text = (REPO / 'README.md').read_text(encoding='utf-8')
    blocks, section = [], 'top'
    for part in re.split(r'^(```bash\n.*?^```)', text, flags=re.S | re.M):
        if not part.startswith('```bash'):
            heads = re.findall(r'^#+ (.+)$', part, flags=re.M)
            section = heads[-1] if heads else section
            continue
        body = part[len('```bash\n'):-3].replace('\\\n', ' ')
        commands = []
        for line in body.splitlines():
            line = re.sub(r'(^|\s)#.*$', '', line)  # a comment (no command quotes a '#')
            line = ' '.join(line.split())
            if line:
                commands.append(line)
        slug = re.sub(r'[^a-z0-9]+', '-', section.lower()).strip('-')
        n = sum(1 for b, _ in blocks if b.startswith(slug))
        blocks.append((f'{slug}-{n}', commands))
    return blocks


BLOCKS = readme_blocks()


def _params():
    out = []
    for bid, commands in BLOCKS:
        slow = any(c.startswith(SLOW) for c in commands if c not in NOT_HERE)
        marks = [pytest.mark.slow, pytest.mark.timeout(3600)] if slow else []  # CPU exports
        out.append(pytest.param(commands, id=bid, marks=marks))
    return out


def _argv(command: str) -> list:
    argv = shlex.split(command)
    if argv[0] in ('video-perception', '.venv/bin/video-perception'):
        argv = [sys.executable, '-m', 'video_perception.cli'] + argv[1:]
    elif argv[0].startswith('.venv/bin/'):
        argv = [str(BIN / argv[0][len('.venv/bin/'):])] + argv[1:]
    for prefix, extra in BUDGET.items():
        if command.startswith(prefix):
            argv += extra
    return argv


def _workspace(tmp: pathlib.Path) -> pathlib.Path:
    """A folder laid out as a checkout: ``models/`` and ``../shared`` resolve as in the README."""
    ws = tmp / 'checkout'
    ws.mkdir()
    (ws / 'models').symlink_to(REPO / 'models')
    shared = (REPO.parent / 'shared').resolve()
    if shared.exists():
        (tmp / 'shared').symlink_to(shared)
    return ws


def _props(ws: pathlib.Path, commands) -> None:
    """The README's placeholder inputs: a driving clip as ``drive.mcap`` (a rosbag2 in mcap)
    and its ``dataset.json``."""
    text = ' '.join(commands)
    if 'drive.mcap' not in text:
        return
    clip = ws / 'props'
    subprocess.run([sys.executable, '-m', 'video_perception.cli', 'synth', 'driving', str(clip),
                    '--videos', '1', '--frames', '12', '--seed', '9', '--bag', 'mcap'],
                   env=child_env(), check=True, capture_output=True, timeout=300)
    (ws / 'drive.mcap').symlink_to(next((clip / 'bags').iterdir()))
    (ws / 'dataset.json').symlink_to(clip / 'dataset.json')


@pytest.mark.parametrize('commands', _params())
def test_readme_block_runs(commands, tmp_path, ros_domain):
    ws = _workspace(tmp_path)
    _props(ws, commands)
    skipped = []
    for command in commands:
        if command in NOT_HERE:
            skipped.append(f'{command!r}: {NOT_HERE[command]}')
            continue
        r = subprocess.run(_argv(command), cwd=ws, env={**child_env(),
                                                        'VIDEO_PERCEPTION_TRANSPORT': 'dds'},
                           capture_output=True, text=True, timeout=900)
        assert 'Traceback' not in r.stdout + r.stderr, f'{command}:\n{r.stderr[-3000:]}'
        assert r.returncode == 0, f'{command}: rc {r.returncode}\n{r.stderr[-3000:]}'
    if skipped and len(skipped) == len(commands):
        pytest.skip('not here: ' + '; '.join(skipped))


def test_not_here_entries_are_in_the_readme():
    commands = {c for _, block in BLOCKS for c in block}
    stale = [c for c in NOT_HERE if c not in commands]
    assert not stale, f'NOT_HERE names commands the README no longer has: {stale}'
    assert all(reason.strip() for reason in NOT_HERE.values())
    assert all(any(c.startswith(p) for c in commands) for p in BUDGET), 'a stale BUDGET entry'


def test_every_block_runs_something_or_says_why():
    """No block is skipped silently: each command runs, or NOT_HERE names it with a reason."""
    assert len(BLOCKS) >= 6
    for bid, commands in BLOCKS:
        assert commands, f'{bid}: an empty bash block'
    assert os.path.basename(__file__) == 'test_readme_runs.py'
