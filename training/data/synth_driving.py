"""The synthetic *driving* preset: a forward camera on a road, where forecasting matters.

Objects live in a small 3-D world (X lateral, Z forward, metres) relative to the ego vehicle and
are projected with a pinhole camera 1.5 m above the road: approaching objects grow and speed up
in the image, receding ones shrink. Each has a velocity and an acceleration (lane changes,
braking, pedestrians crossing); the ego car yaws and pitches, so the whole scene (road texture,
skyline, objects) scrolls. Objects are painted far to near, so near ones occlude far ones.

Ground truth per object: the tight box of its own painted silhouette (amodal w.r.t. occluders,
clipped to the image), ``visibility`` = the fraction of that silhouette left unoccluded, and an
ignore region (``iscrowd: 1``) instead of a box when it is under 10 % visible or under 4 px.
Classes and ids are Argoverse-HD's.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

CATEGORIES = [(0, 'person'), (1, 'bicycle'), (2, 'car'), (3, 'motorcycle'), (4, 'bus'),
              (5, 'truck'), (6, 'traffic_light'), (7, 'stop_sign')]
# class id -> (width m, height m, spawn weight)
SIZES = {0: (0.6, 1.75, 0.18), 1: (0.6, 1.7, 0.07), 2: (1.8, 1.5, 0.38), 3: (0.8, 1.5, 0.05),
         4: (2.5, 3.2, 0.05), 5: (2.5, 3.5, 0.09), 6: (0.4, 1.0, 0.12), 7: (0.75, 0.75, 0.06)}
CAM_HEIGHT = 1.5  # m
EGO_SPEED = 15.0  # m/s
MIN_Z, MAX_Z = 3.0, 80.0
MIN_VISIBLE = 0.1
MIN_SIDE = 4.0


class Canvas:
    """Paints on the frame and, with the same geometry, the object's id into an id map."""

    def __init__(self, img, ids):
        self.img, self.ids, self.oid = img, ids, 0

    def rect(self, x1, y1, x2, y2, color):
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(self.img, p1, p2, color, -1)
        cv2.rectangle(self.ids, p1, p2, self.oid, -1)

    def circle(self, x, y, r, color):
        c, r = (int(round(x)), int(round(y))), max(1, int(round(r)))
        cv2.circle(self.img, c, r, color, -1)
        cv2.circle(self.ids, c, r, self.oid, -1)

    def poly(self, pts, color):
        pts = np.round(np.asarray(pts)).astype(np.int32)
        cv2.fillPoly(self.img, [pts], color)
        cv2.fillPoly(self.ids, [pts], self.oid)


def _draw(cv: Canvas, cls: int, x1, y1, x2, y2, color, phase: float) -> None:
    """One object in its box (x1, y1)-(x2, y2); the shapes differ per class (learnable)."""
    w, h = x2 - x1, y2 - y1
    dark = (30, 30, 30)
    if cls == 2:  # car: body, cabin with window, wheels, tail lights
        cv.rect(x1, y1 + 0.35 * h, x2, y2 - 0.12 * h, color)
        cv.rect(x1 + 0.15 * w, y1, x2 - 0.15 * w, y1 + 0.4 * h, tuple(c // 2 for c in color))
        cv.rect(x1 + 0.22 * w, y1 + 0.07 * h, x2 - 0.22 * w, y1 + 0.33 * h, (200, 180, 150))
        for cx in (x1 + 0.2 * w, x2 - 0.2 * w):
            cv.circle(cx, y2 - 0.12 * h, 0.12 * h, dark)
        cv.rect(x1, y1 + 0.45 * h, x1 + 0.12 * w, y1 + 0.58 * h, (40, 40, 220))
        cv.rect(x2 - 0.12 * w, y1 + 0.45 * h, x2, y1 + 0.58 * h, (40, 40, 220))
    elif cls in (4, 5):  # bus: long windowed box; truck: cargo box over a cab
        cv.rect(x1, y1, x2, y2 - 0.08 * h, color)
        if cls == 4:
            cv.rect(x1 + 0.05 * w, y1 + 0.1 * h, x2 - 0.05 * w, y1 + 0.35 * h, (120, 90, 60))
        else:
            cv.rect(x1 + 0.1 * w, y1 + 0.6 * h, x2 - 0.1 * w, y2 - 0.1 * h, (90, 90, 90))
        for cx in (x1 + 0.15 * w, x2 - 0.15 * w):
            cv.circle(cx, y2 - 0.08 * h, 0.08 * h, dark)
    elif cls == 0:  # person: head, torso, legs that swing
        cv.circle((x1 + x2) / 2, y1 + 0.1 * h, 0.1 * h, (120, 150, 200))
        cv.rect(x1 + 0.15 * w, y1 + 0.2 * h, x2 - 0.15 * w, y1 + 0.6 * h, color)
        swing = 0.15 * w * math.sin(phase)
        cv.rect(x1 + 0.2 * w + swing, y1 + 0.6 * h, x1 + 0.45 * w + swing, y2, (60, 50, 40))
        cv.rect(x2 - 0.45 * w - swing, y1 + 0.6 * h, x2 - 0.2 * w - swing, y2, (60, 50, 40))
    elif cls in (1, 3):  # bicycle / motorcycle: two wheels, frame, rider
        r = 0.2 * h if cls == 1 else 0.24 * h
        cv.circle(x1 + r, y2 - r, r, dark)
        cv.circle(x2 - r, y2 - r, r, dark)
        cv.rect(x1 + r, y2 - 1.6 * r, x2 - r, y2 - r, color if cls == 1 else (40, 40, 160))
        cv.rect(x1 + 0.3 * w, y1 + 0.15 * h, x2 - 0.3 * w, y2 - 1.5 * r, color)
        cv.circle((x1 + x2) / 2, y1 + 0.08 * h, 0.08 * h, (120, 150, 200))
    elif cls == 6:  # traffic light: housing with one lit lamp
        cv.rect(x1, y1, x2, y2, (25, 25, 25))
        lit = int(phase) % 3
        for k, col in enumerate(((60, 60, 255), (60, 220, 255), (80, 255, 80))):
            cv.circle((x1 + x2) / 2, y1 + (k + 0.5) * h / 3, 0.3 * w,
                      col if k == lit else (50, 50, 50))
    else:  # stop sign: red octagon with a white bar
        cx, cy, r = (x1 + x2) / 2, (y1 + y2) / 2, w / 2
        pts = [(cx + r * math.cos(math.pi / 8 + k * math.pi / 4),
                cy + r * math.sin(math.pi / 8 + k * math.pi / 4)) for k in range(8)]
        cv.poly(pts, (30, 30, 200))
        cv.rect(cx - 0.6 * r, cy - 0.15 * r, cx + 0.6 * r, cy + 0.15 * r, (240, 240, 240))


def _spawn(rng, far: bool) -> dict:
    """A new object; ``far`` spawns it near the horizon (entering), otherwise anywhere."""
    classes = list(SIZES)
    weights = np.array([SIZES[c][2] for c in classes])
    cls = int(rng.choice(classes, p=weights / weights.sum()))
    z = rng.uniform(40, 70) if far else rng.uniform(6, 50)
    vx = ax = 0.0
    elevation = 0.0
    if cls in (6, 7):  # fixed in the world: the ego car drives past
        x = rng.choice([-1, 1]) * rng.uniform(5.5, 7.5)
        vz = -EGO_SPEED
        elevation = 3.5 if cls == 6 else 1.2
    elif cls == 0:  # pedestrians walk along the kerb or cross the road
        x = rng.choice([-1, 1]) * rng.uniform(4.5, 7.0)
        vz = -EGO_SPEED + rng.uniform(-1.5, 1.5)
        if rng.random() < 0.5:
            vx = -np.sign(x) * rng.uniform(0.8, 1.8)
    else:
        lane = int(rng.choice([-1, 0, 1]))
        x = 3.5 * lane + rng.uniform(-0.4, 0.4)
        if lane == -1:  # oncoming traffic drives at us
            vz = -EGO_SPEED - rng.uniform(6, 14)
        else:
            vz = rng.uniform(-6, 4)
        ax = rng.uniform(-0.6, 0.6)
        vx = rng.uniform(-0.5, 0.5) if rng.random() < 0.3 else 0.0
    color = tuple(int(c) for c in rng.integers(40, 230, size=3))
    return {'cls': cls, 'x': float(x), 'z': float(z), 'vx': float(vx), 'vz': float(vz),
            'ax': float(ax), 'az': float(rng.uniform(-2.0, 2.0)), 'elev': elevation,
            'color': color, 'phase': float(rng.uniform(0, 6.3))}


def _background(rng, height, width):
    """Static textures the camera pans over: ground noise, sky, skyline silhouettes."""
    margin = width
    ground = rng.normal(0, 1, (height // 4 + 1, (width + 2 * margin) // 4 + 1)).astype(np.float32)
    ground = cv2.resize(ground, (width + 2 * margin, height), interpolation=cv2.INTER_CUBIC)
    skyline = np.zeros(width + 2 * margin, np.float32)
    x = 0
    while x < skyline.size:
        w = int(rng.integers(8, 40))
        skyline[x:x + w] = rng.uniform(0.02, 0.15)
        x += w
    return margin, ground, skyline


def render_video(rng, frames: int, height: int, width: int, fps: float):
    """Yield (frame BGR uint8 [H, W, 3], objects) per frame; objects are annotation dicts."""
    dt = 1.0 / fps
    focal = 0.9 * width
    margin, ground, skyline = _background(rng, height, width)
    yaw_amp, yaw_w, yaw_ph = rng.uniform(0.08, 0.16), rng.uniform(2.0, 3.5), rng.uniform(0, 6.3)
    pitch_amp = rng.uniform(0.004, 0.01)
    road_grey = rng.uniform(70, 110)
    objs = [_spawn(rng, far=False) for _ in range(int(rng.integers(5, 10)))]
    for n, o in enumerate(objs):
        o['id'] = n
    next_id = len(objs)
    rows = np.arange(height, dtype=np.float32)[:, None]
    cols = np.arange(width, dtype=np.float32)[None, :]
    for f in range(frames):
        t = f * dt
        yaw = yaw_amp * math.sin(yaw_w * t + yaw_ph)
        horizon = 0.42 * height + focal * pitch_amp * math.sin(9.0 * t)
        shift = int(round(focal * yaw))
        cx = width / 2 + focal * yaw
        # Background: sky gradient + skyline, road wedge, verges, dashed lanes.
        tex = ground[:, margin - shift: margin - shift + width]
        img = np.empty((height, width, 3), np.float32)
        sky = np.clip((horizon - rows) / max(horizon, 1), 0, 1)
        img[:] = (170 + 50 * sky)[..., None] * np.array([1.0, 0.9, 0.75], np.float32)
        sk = skyline[margin - shift: margin - shift + width] * height
        img[(rows < horizon) & (rows > horizon - sk[None, :])] = (110, 105, 100)
        below = rows >= horizon
        depth = np.where(below, focal * CAM_HEIGHT / np.maximum(rows - horizon, 0.5), 1e6)
        lateral = (cols - cx) * depth / focal  # metres from the lane centre on the road plane
        road = below & (np.abs(lateral) < 5.3)
        verge = below & ~road
        img[verge] = (60, 120, 90)
        img[road] = road_grey
        dash = road & (np.abs(np.abs(lateral) - 1.75) < 0.12) & \
            (((depth + EGO_SPEED * t) % 9.0) < 4.5)
        img[dash] = (220, 220, 220)
        img += (12 * tex)[..., None] * below[..., None]
        img = np.clip(img, 0, 255).astype(np.uint8)
        ids = np.zeros((height, width), np.int32)
        cv = Canvas(img, ids)
        drawn = []
        for o in sorted(objs, key=lambda o: -o['z']):  # far to near: near ones occlude
            w_m, h_m, _ = SIZES[o['cls']]
            scale = focal / o['z']
            bx = cx + o['x'] * scale
            by = horizon + (CAM_HEIGHT - o['elev']) * scale
            x1, x2 = bx - w_m * scale / 2, bx + w_m * scale / 2
            y1 = by - h_m * scale
            if x2 < -5 or x1 > width + 5 or by < 0 or y1 > height:
                continue
            if o['cls'] in (6, 7):  # pole under the sign: occludes, but is not part of the box
                cv.oid = 0
                cv.rect(bx - 0.03 * scale, by, bx + 0.03 * scale,
                        horizon + CAM_HEIGHT * scale, (90, 90, 90))
            cv.oid = o['id'] + 1
            _draw(cv, o['cls'], x1, y1, x2, by, o['color'], o['phase'] + 6 * t)
            ys, xs = np.nonzero(ids == o['id'] + 1)
            if len(xs):
                drawn.append((o, len(xs), [float(xs.min()), float(ys.min()),
                                           float(xs.max() - xs.min() + 1),
                                           float(ys.max() - ys.min() + 1)]))
        anns = []
        for o, own, box in drawn:
            visible = float(np.count_nonzero(ids == o['id'] + 1)) / own
            ignore = visible < MIN_VISIBLE or min(box[2], box[3]) < MIN_SIDE
            ann = {'category_id': o['cls'], 'bbox': box, 'instance_id': o['id'],
                   'visibility': round(visible, 4)}
            if ignore:
                ann['ignore'] = True
            anns.append(ann)
        noise = rng.normal(0, 3.0, img.shape).astype(np.float32)
        yield np.clip(img + noise, 0, 255).astype(np.uint8), anns
        # Physics step: constant acceleration over one frame.
        for o in objs:
            o['x'] += o['vx'] * dt + 0.5 * o['ax'] * dt * dt
            o['z'] += o['vz'] * dt + 0.5 * o['az'] * dt * dt
            o['vx'] += o['ax'] * dt
            if o['cls'] not in (6, 7):
                o['vz'] += o['az'] * dt
        objs = [o for o in objs if MIN_Z < o['z'] < MAX_Z and abs(o['x']) < 0.8 * o['z'] + 10]
        if rng.random() < 0.08 or len(objs) < 4:
            o = _spawn(rng, far=True)
            o['id'] = next_id
            next_id += 1
            objs.append(o)
