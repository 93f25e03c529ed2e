"""Makes docs/figures/eval_*.png from the BDD100K case and a synthetic 30 fps stream."""
# Usage: .venv/bin/python docs/figures/make_eval_figures.py docs/figures
import json, pathlib, sys
import numpy as np
import cv2
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from video_perception.eval.results import load_ground_truth, load_results
from video_perception.eval.kstep import evaluate_offline, sap_k_sweep
from video_perception.eval.streaming import evaluate_streaming
from video_perception.eval.latency import latencies_from_results
from video_perception.eval import plots
from video_perception.eval.video import render_clip, count_mp4_frames

OUT = pathlib.Path(sys.argv[1])
SH = pathlib.Path(__file__).resolve().parents[3] / 'shared' / 'data' / 'bdd100k_eval_case'
FPS = 30.0

# --- BDD100K -------------------------------------------------------------------------------
g = json.loads((SH / 'cocoformat_track_sample_annotations.json').read_text())
p = json.loads((SH / 'bbox_predictions.json').read_text())
n2i = {im['file_name']: im['id'] for im in g['images']}
cat = {c['name']: c['id'] for c in g['categories']}
dets = [{'input_image_id': n2i[q['name']], 'category_id': cat[q['category']],
         'bbox': [q['bbox'][0], q['bbox'][1], q['bbox'][2] - q['bbox'][0], q['bbox'][3] - q['bbox'][1]],
         'score': q['score']} for q in p]
bdd_gt = load_ground_truth(g)
bdd_res = load_results({'outputs': [{'input_image_id': im['id'], 'finish_time': im['frame_id'] / 5}
                                    for im in g['images']], 'detections': dets})
off = evaluate_offline(bdd_gt, bdd_res, bdd_plus_one=True)
print('BDD AP', off.stats['AP'])
plots.plot_pr_curves(off, OUT / 'eval_pr_curves.png',
                     title='BDD100K sample (202 frames), offline, +1 px',
                     class_names={c['id']: c['name'] for c in g['categories']})

# --- synthetic driving-like stream ---------------------------------------------------------
rng = np.random.default_rng(0)
W, H = 640, 360
images, anns, videos = [], [], []
tracks = {}
iid = 0
for v in range(2):
    videos.append({'id': v, 'name': f'synth{v}', 'fps': FPS})
    objs = []
    for o in range(6):
        objs.append(dict(c=int(rng.integers(1, 4)), x=rng.uniform(50, 500), y=rng.uniform(100, 250),
                         vx=rng.uniform(-6, 6), vy=rng.uniform(-1, 1), ax=rng.uniform(-0.1, 0.1),
                         w=rng.uniform(30, 90), h=rng.uniform(25, 60), g=rng.uniform(1.0, 1.01)))
    for f in range(90):
        iid += 1
        images.append({'id': iid, 'video_id': v, 'frame_id': f, 'timestamp': 10 * v + f / FPS,
                       'width': W, 'height': H, 'file_name': f'synth{v}/{f:04d}.png'})
        for k, o in enumerate(objs):
            x1, y1 = max(o['x'], 0), max(o['y'], 0)
            x2, y2 = min(o['x'] + o['w'], W), min(o['y'] + o['h'], H)
            if x2 - x1 > 4 and y2 - y1 > 4:
                anns.append({'id': len(anns) + 1, 'image_id': iid, 'category_id': o['c'],
                             'bbox': [x1, y1, x2 - x1, y2 - y1], 'area': (x2 - x1) * (y2 - y1),
                             'iscrowd': 0, 'instance_id': k})
            o['x'] += o['vx']; o['y'] += o['vy']; o['vx'] += o['ax']; o['w'] *= o['g']; o['h'] *= o['g']
sg = {'videos': videos, 'images': images, 'annotations': anns,
      'categories': [{'id': 1, 'name': 'car'}, {'id': 2, 'name': 'person'}, {'id': 3, 'name': 'bike'}]}
by_img = {}
for a in anns:
    by_img.setdefault(a['image_id'], []).append(a)
ids = {(im['video_id'], im['frame_id']): im['id'] for im in images}
img_of = {im['id']: im for im in images}


def detect(src_id, target_id, noise=2.0):
    """Noisy detections of target frame's boxes, reported as the output of src frame."""
    out = []
    for a in by_img.get(target_id, []):
        if rng.random() < 0.1:
            continue
        x, y, w, h = a['bbox']
        out.append({'input_image_id': src_id, 'category_id': a['category_id'],
                    'bbox': [x + rng.normal(0, noise), y + rng.normal(0, noise), w * rng.normal(1, 0.03),
                             h * rng.normal(1, 0.03)], 'score': float(rng.uniform(0.3, 1))})
    out.append({'input_image_id': src_id, 'category_id': int(rng.integers(1, 4)),
                'bbox': [rng.uniform(0, 500), rng.uniform(0, 300), 40, 30], 'score': float(rng.uniform(0, 0.5))})
    return out


# a real-time schedule: busy detector takes the latest arrived frame when it is free
outputs, sdets = [], []
for v in range(2):
    t = 10 * v
    end = 10 * v + 90 / FPS
    while True:
        f = int(np.floor((t - 10 * v) * FPS + 1e-9))
        if f >= 90:
            break
        src = ids[(v, f)]
        lat = float(rng.lognormal(np.log(0.024), 0.25)) + (0.03 if rng.random() < 0.08 else 0.0)
        t = max(t, img_of[src]['timestamp']) + lat
        outputs.append({'input_image_id': src, 'finish_time': t})
        sdets += detect(src, src)
        nxt = 10 * v + (f + 1) / FPS
        t = max(t, nxt) if t < nxt else t
synth_gt = load_ground_truth(sg)
synth_res = load_results({'outputs': outputs, 'detections': sdets})
st_ap, pairing, lat = evaluate_streaming(synth_gt, synth_res)
print('synthetic streaming AP', st_ap.stats['AP'], 'offline', evaluate_offline(synth_gt, synth_res).stats['AP'],
      pairing.in_time, pairing.mean_lag_frames, lat)
plots.plot_latency_histogram(latencies_from_results(synth_gt, synth_res), OUT / 'eval_latency.png',
                             title=f'Synthetic 30 fps stream ({len(outputs)} outputs)',
                             frame_period_s=1 / FPS)

# sAP_K: a still detector goes stale; a forecaster trained for K scores its own K
still = load_results({'outputs': [{'input_image_id': im['id'], 'finish_time': im['timestamp']} for im in images],
                      'detections': [d for im in images for d in detect(im['id'], im['id'])]})
forecast = {}
for k in range(1, 7):
    dd = []
    for im in images:
        tgt = ids.get((im['video_id'], im['frame_id'] + k))
        if tgt is not None:
            dd += detect(im['id'], tgt, noise=2.0 + 1.0 * k)
    forecast[k] = load_results({'outputs': [{'input_image_id': im['id'], 'finish_time': im['timestamp']}
                                            for im in images], 'detections': dd})
series = {'synthetic: still detector (30 fps)': sap_k_sweep(synth_gt, still),
          'synthetic: K-step forecaster (30 fps)': sap_k_sweep(synth_gt, forecast),
          'BDD100K sample: still detector (5 fps, +1 px)': sap_k_sweep(bdd_gt, bdd_res, bdd_plus_one=True)}
print(series)
plots.plot_sap_k(series, OUT / 'eval_sap_k.png')

# annotated frame + MP4 of the synthetic stream (streaming pairing)
root = OUT.parent / '_synth_frames'
for im in images:
    if im['video_id'] != 0:
        continue
    canvas = np.full((H, W, 3), 90, np.uint8)
    cv2.line(canvas, (0, 200), (W, 200), (120, 120, 120), 2)
    for a in by_img.get(im['id'], []):
        x, y, w, h = map(int, a['bbox'])
        cv2.rectangle(canvas, (x, y), (x + w, y + h), [(0, 0, 0), (40, 40, 200), (200, 120, 40), (40, 180, 40)][a['category_id']], -1)
    (root / f'synth0').mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / im['file_name']), canvas)
paired = {gg: synth_res.dets_of(s) for gg, s in pairing.used.items() if s is not None}
caps = {gg: f"GT frame {img_of[gg]['frame_id']} <- output of frame {img_of[s]['frame_id']}"
        for gg, s in pairing.used.items() if s is not None}
pngs, mp4 = render_clip(synth_gt, paired, root, OUT.parent / '_clip', video_id=0, score_thr=0.5,
                        captions=caps)
print('mp4 frames', count_mp4_frames(mp4), len(pngs))
import shutil
shutil.copy(pngs[40], OUT / 'eval_annotated_frame.png')
