"""MOTChallenge converter on the real MOT17 sample (all 7 sequences) and on bad input."""
import configparser
import csv

import pytest
from pycocotools.coco import COCO

from training.data import convert
from video_perception import cli
from video_perception.dataset import load_video_dataset


def _reference(seq_dir):
    """Per on-disk frame: sorted pedestrian boxes and ignore boxes, by a plain loop over gt.txt."""
    ini = configparser.ConfigParser()
    ini.read(seq_dir / 'seqinfo.ini')
    W, H = int(ini['Sequence']['imWidth']), int(ini['Sequence']['imHeight'])
    on_disk = {int(p.stem) for p in (seq_dir / 'img1').glob('*.jpg')}
    peds, ign = {f: [] for f in on_disk}, {f: [] for f in on_disk}
    with open(seq_dir / 'gt' / 'gt.txt') as f:
        for row in csv.reader(f):
            frame, _, x, y, w, h, flag, cls, _ = (float(v) for v in row)
            if int(frame) not in on_disk:
                continue
            x1, y1 = max(x, 0), max(y, 0)
            x2, y2 = min(x + w, W), min(y + h, H)
            if x2 <= x1 or y2 <= y1:
                continue
            box = (round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3))
            if cls == 1 and flag == 1:
                peds[int(frame)].append(box)
            elif cls in (2, 7, 8, 12) or cls == 1:
                ign[int(frame)].append(box)
    return {f: sorted(v) for f, v in peds.items()}, {f: sorted(v) for f, v in ign.items()}


def test_mot17_mini_converts_and_matches_gt(shared_data, tmp_path):
    src = shared_data / 'mot17_mini' / 'train'
    assert convert.main(['mot', str(src), str(tmp_path)]) == 0
    ds = load_video_dataset(tmp_path, check_files=True)
    seqs = sorted(p for p in src.iterdir() if (p / 'seqinfo.ini').is_file())
    assert [v['name'] for v in ds.videos.values()] == [p.name for p in seqs]
    assert len(seqs) == 7
    n_ped = n_ign = 0
    for vid, seq in zip(ds.videos, seqs):
        peds, ign = _reference(seq)
        ids = ds.frames[vid]
        assert [ds.images[i]['source_frame'] for i in ids] == sorted(peds)
        for iid in ids:
            im = ds.images[iid]
            got_p = sorted(tuple(round(v, 3) for v in a['bbox']) for a in ds.anns[iid]
                           if not a['iscrowd'])
            got_i = sorted(tuple(round(v, 3) for v in a['bbox']) for a in ds.anns[iid]
                           if a['iscrowd'] and a.get('ignore') == 1)
            assert got_p == peds[im['source_frame']], (seq.name, im['source_frame'])
            assert got_i == ign[im['source_frame']], (seq.name, im['source_frame'])
            n_ped += len(got_p)
            n_ign += len(got_i)
    # awk over the 7 gt.txt files: 814 rows with flag 1 and class 1; classes 2/7/8/12: 136.
    assert (n_ped, n_ign) == (814, 136)
    # MOT17-05 is 14 fps at 640x480; its timestamps follow.
    v05 = next(v for v in ds.videos.values() if v['name'] == 'MOT17-05-FRCNN')
    ims = [ds.images[i] for i in ds.frames[v05['id']]]
    assert v05['fps'] == 14.0 and (ims[0]['width'], ims[0]['height']) == (640, 480)
    assert ims[3]['timestamp'] == pytest.approx(3 / 14)
    # Visibility and the track id survive; pycocotools reads the file as written.
    ann = ds.anns[ds.frames[0][0]][0]
    assert 0.0 <= ann['visibility'] <= 1.0 and isinstance(ann['instance_id'], int)
    coco = COCO(str(tmp_path / 'dataset.json'))
    assert len(coco.getAnnIds(iscrowd=False)) == 814


def test_mot_bad_input(tmp_path, capsys):
    (tmp_path / 'seq').mkdir()
    (tmp_path / 'seq' / 'seqinfo.ini').write_text('[Sequence]\nname=x\nframeRate=30\n')
    assert convert.main(['mot', str(tmp_path / 'seq'), str(tmp_path / 'out')]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and 'seqinfo.ini: bad or missing key' in err
    # Through the tool's dispatcher, as users run it.
    assert cli.main(['convert', 'mot', str(tmp_path / 'nope'), str(tmp_path / 'out')]) == 1
    assert 'no such file or folder' in capsys.readouterr().err
