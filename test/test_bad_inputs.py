"""The bad-input matrix: wrong inputs a user makes, each through the real command in its own
process. Every case asserts the exit status, no traceback, one line that names the thing and says
what was expected, and that nothing was half-written (an output folder that did not exist does
not exist after the failure; one that did is byte-for-byte what it was; no temporary file left).
Cases and their runner are test/matrix.py's, as for the other reliability matrices.

The cases are the table of docs/RELIABILITY.md; keep the two together.
"""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from engine_subprocess import REPO, child_env
from matrix import Case, run_case

MODELS = REPO / 'models'
DATA = REPO.parent / 'shared' / 'data'
SN = MODELS / 'streamnet_tiny_synth'
V2I = MODELS / 'v2i_distill_tiny_vocalfolds'


# ---- fixtures made in tmp: each writes one wrong thing --------------------------------------
def _file(tmp, name, data: bytes):
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def _bundle(tmp, edit=None, drop_json=False, src=SN):
    """A copy of a shipped bundle with model.json edited by ``edit(meta)``."""
    dst = tmp / 'bundle'
    shutil.copytree(src, dst)
    if drop_json:
        (dst / 'model.json').unlink()
    elif edit is not None:
        meta = json.loads((dst / 'model.json').read_text())
        edit(meta)
        (dst / 'model.json').write_text(json.dumps(meta))
    return str(dst)


def _set(path, value):
    def edit(meta):
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def _bag(tmp, damage):
    """A copy of the real ROS 2 image bag, damaged by ``damage(folder)``."""
    dst = tmp / 'bag'
    shutil.copytree(DATA / 'rosbag2_images_real' / 'images.bag', dst)
    damage(dst)
    return str(dst)


def _truncate_db(folder):
    db = next(folder.glob('*.db3'))
    db.write_bytes(db.read_bytes()[:3000])


def _frames(tmp, n=3, corrupt=False):
    import cv2
    import numpy as np
    folder = tmp / 'frames'
    folder.mkdir()
    for i in range(n):
        if corrupt and i == 1:
            (folder / f'{i:04d}.png').write_bytes(b'\x89PNG\r\n\x1a\n not really a png')
        else:
            cv2.imwrite(str(folder / f'{i:04d}.png'), np.full((48, 64, 3), 40 * i, np.uint8))
    return str(folder)


def _nonempty(tmp, name='out'):
    folder = tmp / name
    folder.mkdir()
    (folder / 'keep.txt').write_text('the user\'s own file')
    return str(folder)


def _replay(source, model=str(SN), *extra):
    return ['replay', source, '--model', model, '--out', 'OUT', '--backend', 'onnxruntime',
            '--threads', '1', *extra]


def _checkpoint_truncated(tmp):
    import torch
    path = tmp / 'last.pt'
    torch.save({'model': {'w': torch.ones(1000)}}, path)
    path.write_bytes(path.read_bytes()[:500])
    return str(path)


CASES = [
    # -- the command line itself
    Case('cli-unknown-subcommand', lambda t: ['replai', 'x'], 2, ['replai', 'expected one of']),
    Case('cli-unknown-option', lambda t: ['synth', 'driving', str(t / 'o'), '--vidoes', '2'], 2,
         ['--vidoes']),
    Case('cli-bad-number', lambda t: ['synth', 'driving', str(t / 'o'), '--videos', 'two'], 2,
         ['--videos', 'two'], keep=['o']),
    # -- bags
    Case('bag-missing', lambda t: _replay(str(t / 'nope.mcap')), 2, ['nope.mcap'], keep=['OUT']),
    Case('bag-truncated-db', lambda t: _replay(_bag(t, _truncate_db)), 2, ['bag'], keep=['OUT'],
         needs=DATA / 'rosbag2_images_real'),
    Case('bag-metadata-garbage',
         lambda t: _replay(_bag(t, lambda f: (f / 'metadata.yaml').write_text('{{{ not yaml'))),
         2, ['metadata'], keep=['OUT'], needs=DATA / 'rosbag2_images_real'),
    Case('bag-empty-folder', lambda t: _replay(str((t / 'empty').mkdir() or t / 'empty')), 2,
         ['empty'], keep=['OUT']),
    Case('bag-no-image-topic',
         lambda t: _replay(str(DATA / 'rosbag2_talker_real' / 'sqlite3' / 'talker')), 2,
         ['image'], keep=['OUT'], needs=DATA / 'rosbag2_talker_real'),
    # -- image folders and videos
    # --latency 0: every frame is run (a measured latency drops frame 1 on a loaded machine, and
    # a dropped frame is never decoded)
    Case('frames-corrupt-png',
         lambda t: _replay(_frames(t, corrupt=True), str(SN), '--latency', '0'), 2,
         ['0001.png'], keep=['OUT']),
    Case('video-not-a-video', lambda t: _replay(_file(t, 'clip.mp4', b'\x00' * 4096)), 2,
         ['clip.mp4'], keep=['OUT']),
    Case('publish-missing-source', lambda t: ['publish', str(t / 'nothing'), '--count', '1'], 1,
         ['nothing']),
    # -- bundles
    Case('bundle-missing', lambda t: _replay(_frames(t), str(t / 'no_bundle')), 2,
         ['no_bundle', 'expected'], keep=['OUT']),
    Case('bundle-no-model-json', lambda t: _replay(_frames(t), _bundle(t, drop_json=True)), 2,
         ['model.json'], keep=['OUT']),
    Case('bundle-json-not-json', lambda t: _replay(_frames(t), _bundle_text(t, '{"family": ')),
         2, ['model.json', 'json'], keep=['OUT']),
    Case('bundle-input-size',
         lambda t: _replay(_frames(t), _bundle(t, _set(['input', 'height'], 256))),
         2, ['input.height', '256', '192'], keep=['OUT']),
    Case('bundle-v2i-classes',
         lambda t: _replay(_frames(t), _bundle(t, _set(['classes'], ['a', 'b']), src=V2I)),
         2, ['classes', '2 names', '1 classes'], keep=['OUT']),
    Case('bundle-v2i-queries',
         lambda t: _replay(_frames(t), _bundle(t, _set(['output', 'num_queries'], 100), src=V2I)),
         2, ['num_queries', '100', '30 queries'], keep=['OUT']),
    Case('bundle-classes', lambda t: _replay(_frames(t), _bundle(t, _set(['classes'],
                                                                         ['car', 'person']))),
         2, ['classes', '2 names', '8 classes'], keep=['OUT']),
    Case('bundle-history-frames', lambda t: _replay(_frames(t), _bundle(t, _set(
        ['history', 'frames'], 2))), 2, ['history.frames', '2', '3 buffered'], keep=['OUT']),
    Case('bundle-history-frames-more', lambda t: _replay(_frames(t), _bundle(t, _set(
        ['history', 'frames'], 4))), 2, ['history.frames', '4', '3 buffered'], keep=['OUT']),
    Case('bundle-feature-shape', lambda t: _replay(_frames(t), _bundle(t, _set(
        ['history', 'features', 0, 'shape'], [1, 32, 12, 20]))), 2,
         ['history.features', 'l0'], keep=['OUT']),
    Case('bundle-graph-missing', lambda t: _replay(_frames(t), _bundle(t, _set(
        ['graphs', 'encoder'], 'enc.onnx'))), 2, ['enc.onnx'], keep=['OUT']),
    Case('bundle-wrong-family-node', lambda t: ['--ros-args', '-p',
                                                f'model_path:={MODELS / "streamnet_tiny_synth"}'],
         2, ['streamnet', 'v2i'], program='v2i_node'),
    Case('node-model-path-missing', lambda t: ['--ros-args', '-p', f'model_path:={t}/none'], 2,
         ['none'], program='streamnet_node'),
    Case('node-ros-args-malformed', lambda t: ['--ros-args', '-p', 'model_path'], 2,
         ['model_path'], program='streamnet_node'),
    # -- ground truth and results
    Case('gt-missing', lambda t: _replay(_frames(t), str(SN), '--gt', str(t / 'gt.json')), 2,
         ['gt.json'], keep=['OUT']),
    Case('gt-not-json', lambda t: _replay(_frames(t), str(SN), '--gt',
                                          _file(t, 'gt.json', b'[1, 2')), 2, ['gt.json'],
         keep=['OUT']),
    Case('evaluate-results-missing',
         lambda t: ['evaluate', str(DATA / 'bdd100k_eval_case' /
                                    'cocoformat_track_sample_annotations.json'),
                    str(t / 'results.json')], 2, ['results.json'],
         needs=DATA / 'bdd100k_eval_case'),
    # -- outputs never overwritten or mixed
    Case('replay-out-not-empty', lambda t: (_nonempty(t, 'OUT'), _replay(_frames(t)))[1], 2,
         ['OUT', '--force'], keep=['OUT']),
    Case('synth-out-not-empty', lambda t: ['synth', 'driving', _nonempty(t), '--videos', '1',
                                           '--frames', '2'], 1, ['out', 'not empty', '--force'],
         keep=['out']),
    Case('synth-out-is-file', lambda t: ['synth', 'driving', _file(t, 'out', b'x'), '--videos',
                                         '1'], 1, ['out', 'not a folder']),
    Case('convert-out-not-empty',
         lambda t: ['convert', 'frames', _frames(t), _nonempty(t)], 1, ['not empty', '--force'],
         keep=['out']),
    Case('convert-src-missing', lambda t: ['convert', 'mot', str(t / 'nosrc'), str(t / 'out')], 1,
         ['nosrc'], keep=['out']),
    Case('convert-unknown-format', lambda t: ['convert', 'coco', str(t), str(t / 'out')], 2,
         ['coco'], keep=['out']),
    Case('convert-bad-source-leaves-nothing',
         lambda t: ['convert', 'mot', _mot_broken(t), str(t / 'out')], 1, ['gt.txt'],
         keep=['out']),
    Case('export-out-not-empty', lambda t: ['export', 'streamnet_tiny', '--out', _nonempty(t)],
         2, ['--out', 'not empty', '--force'], keep=['out']),
    Case('export-out-is-file', lambda t: ['export', 'streamnet_tiny', '--out',
                                          _file(t, 'out', b'x')], 2, ['--out', 'not a folder'],
         keep=['out']),
    Case('export-unknown-variant', lambda t: ['export', 'streamnet_xl', '--out', str(t / 'out')],
         2, ['streamnet_xl'], keep=['out']),
    Case('export-checkpoint-truncated',
         lambda t: ['export', 'streamnet_tiny', '--checkpoint', _checkpoint_truncated(t),
                    '--out', str(t / 'out')], 2, ['last.pt', 'cannot be read', 'expected'],
         keep=['out']),
    Case('export-checkpoint-of-other-model',
         lambda t: ['export', 'detr_tiny', '--checkpoint', str(SN / 'model.pt'), '--out',
                    str(t / 'out')], 2, ['model.pt', 'detr_tiny disagrees', 'pass streamnet_tiny'],
         keep=['out']),
    # -- training: experiments, configs, checkpoints
    Case('train-unknown-exp', lambda t: ['train', 'streamnet_tiny_synht'], 2,
         ['streamnet_tiny_synht']),
    Case('train-config-typo', lambda t: ['train', 'toy_mlp', 'max_epochs=3'], 2,
         ['max_epochs']),
    Case('train-config-bad-value', lambda t: ['train', 'toy_mlp', 'max_epoch=three'], 2,
         ['max_epoch', 'three']),
    Case('train-data-missing', lambda t: ['train', 'streamnet_tiny_synth',
                                          f'output_dir={t}/runs',
                                          f'train_json={t}/no/dataset.json'], 2,
         ['dataset.json'], keep=['runs']),
    Case('train-run-folder-exists',
         lambda t: ['train', 'toy_mlp', f'output_dir={t}/runs', 'max_epoch=1',
                    (_nonempty(t / 'runs', 'toy_mlp') if (t / 'runs').mkdir() is None else '')
                    and 'progress=false'], 2, ['run folder', 'resume=auto', '--force'],
         keep=['runs']),
    Case('train-resume-missing', lambda t: ['train', 'toy_mlp', f'output_dir={t}/runs',
                                            f'resume={t}/gone.pt'], 2, ['gone.pt'], keep=['runs']),
    Case('train-resume-truncated', lambda t: ['train', 'toy_mlp', f'output_dir={t}/runs',
                                              f'resume={_checkpoint_truncated(t)}'], 2,
         ['last.pt', 'cannot be read'], keep=['runs']),
    # -- DDS environment
    Case('dds-domain-id', lambda t: ['publish', 'sim:64x48', '--count', '1'], 1,
         ['ROS_DOMAIN_ID', '999', '0..232'], env={'ROS_DOMAIN_ID': '999'}),
    Case('dds-discovery-range', lambda t: ['publish', 'sim:64x48', '--count', '1'], 1,
         ['ROS_AUTOMATIC_DISCOVERY_RANGE', 'expected'],
         env={'ROS_AUTOMATIC_DISCOVERY_RANGE': 'everywhere'}),
    Case('dds-uri-missing-file', lambda t: ['echo', '/x', '--timeout', '1'], 1,
         ['CYCLONEDDS_URI', 'cannot read'], env={'CYCLONEDDS_URI': 'file:///no/such.xml'}),
    Case('dds-uri-malformed', lambda t: ['publish', 'sim:64x48', '--count', '1'], 1,
         ['CYCLONEDDS_URI', 'not well-formed'],
         env={'CYCLONEDDS_URI': '<CycloneDDS><Domain><General>'}),
    Case('dds-uri-malformed-node', lambda t: ['--ros-args', '-p', f'model_path:={SN}'], 2,
         ['CYCLONEDDS_URI', 'not well-formed'], program='streamnet_node',
         env={'CYCLONEDDS_URI': '<CycloneDDS><Domain>'}),
    Case('dds-domain-id-node', lambda t: ['--ros-args', '-p', f'model_path:={SN}'], 2,
         ['ROS_DOMAIN_ID', 'abc', '0..232'], env={'ROS_DOMAIN_ID': 'abc'},
         program='streamnet_node'),
    Case('ros-args-remap-malformed', lambda t: ['publish', 'sim:64x48', '--count', '1',
                                                '--ros-args', '-r', 'image'], 2, ['-r', 'image']),
    Case('transport-unknown', lambda t: ['publish', 'sim:64x48', '--count', '1'], 1,
         ['VIDEO_PERCEPTION_TRANSPORT', 'expected'],
         env={'VIDEO_PERCEPTION_TRANSPORT': 'zenoh'}),
]


def _bundle_text(tmp, text):
    path = _bundle(tmp)
    pathlib.Path(path, 'model.json').write_text(text)
    return path


def _mot_broken(tmp):
    seq = tmp / 'mot' / 'MOT17-99'
    (seq / 'img1').mkdir(parents=True)
    (seq / 'gt').mkdir()
    (seq / 'seqinfo.ini').write_text('[Sequence]\nname=MOT17-99\nframeRate=30\nseqLength=1\n'
                                     'imWidth=64\nimHeight=48\nimExt=.jpg\n')
    (seq / 'gt' / 'gt.txt').write_text('1,1,not,a,number\n')
    import cv2
    import numpy as np
    cv2.imwrite(str(seq / 'img1' / '000001.jpg'), np.zeros((48, 64, 3), np.uint8))
    return str(tmp / 'mot')


@pytest.mark.parametrize('case', CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, ros_domain):
    run_case(case, tmp_path)      # matrix.py: skips when case.needs is absent


def test_matrix_is_wide_enough():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


def test_results_of_the_wrong_shape_are_one_line(tmp_path):
    results = _file(tmp_path, 'results.json', b'{"not": "a list"}')
    gt = DATA / 'bdd100k_eval_case' / 'cocoformat_track_sample_annotations.json'
    if not gt.exists():
        pytest.skip(f'{gt} is absent')
    cmd = [sys.executable, '-m', 'video_perception.cli', 'evaluate', str(gt), results]
    r = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and 'Traceback' not in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if 'results' in ln.lower()]) == 1, r.stderr


# a subcommand that fails in a way nothing checks: the dispatcher's last net
BOOM = (
    'import sys, types\n'
    'from video_perception import cli\n'
    'def main(argv):\n'
    '    raise RuntimeError("disk on fire\\nsecond line")\n'
    'mod = types.ModuleType("boom")\n'
    'mod.main = main\n'
    'sys.modules["boom"] = mod\n'
    'cli.SUBCOMMANDS["boom"] = ("boom", "fails")\n'
    'sys.exit(cli.main(["boom"]))\n')


@pytest.mark.parametrize('debug', [False, True])
def test_unexpected_error_is_one_line_unless_debugging(debug):
    env = child_env()
    env.pop('VIDEO_PERCEPTION_DEBUG', None)
    if debug:
        env['VIDEO_PERCEPTION_DEBUG'] = '1'
    r = subprocess.run([sys.executable, '-c', BOOM], env=env, capture_output=True, text=True,
                       timeout=60)
    if debug:
        assert r.returncode == 1 and 'Traceback' in r.stderr
    else:
        assert r.returncode == 70 and 'Traceback' not in r.stderr
        assert r.stderr.strip().splitlines() == [
            'video-perception boom: unexpected RuntimeError: disk on fire (a bug or an input '
            'nothing checks; VIDEO_PERCEPTION_DEBUG=1 shows the traceback)']
