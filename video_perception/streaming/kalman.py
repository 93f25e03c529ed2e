"""A batched constant-velocity Kalman filter on boxes, as Streamer's (Li, Wang and Ramanan 2020;
mtli/sAP ``forecast/pps_forecast_kf.py``).

State of one box: (x, y, w, h, vx, vy, vw, vh): the box's left, top, width and height in original
image pixels and a velocity for each, per **frame period** (time is measured in frame periods,
so the noise levels below mean the same at any camera rate). The measurement is (x, y, w, h)
(H = [I 0]). Constant velocity over dt frame periods: F = [[I, dt I], [0, I]]; process noise
Q = dt^2 I (the toolkit's, on all eight components); measurement noise R = 10 I; a new track
starts at the detected box with zero velocity and P0 = 100 I.

dt is whatever time passed, not one step per call: a filter fed every third frame predicts with
dt = 3 (and dt = 0 leaves the state as it is).
"""
from __future__ import annotations

import numpy as np

N_STATE = 8                 # (x, y, w, h) and their velocities
N_MEAS = 4                  # (x, y, w, h)
R_VARIANCE = 10.0           # the toolkit's R = 10 I
P0_VARIANCE = 100.0         # the toolkit's P0 = 100 I


def transition(dt: float) -> np.ndarray:
    """F [8, 8] for dt frame periods: position += dt * velocity."""
    f = np.eye(N_STATE)
    f[np.arange(N_MEAS), np.arange(N_MEAS) + N_MEAS] = dt
    return f


def init_tracks(boxes_ltwh: np.ndarray, p0: float = P0_VARIANCE):
    """New tracks at ``boxes_ltwh`` [N, 4] with zero velocity: (x [N, 8], P [N, 8, 8])."""
    z = np.asarray(boxes_ltwh, np.float64).reshape(-1, N_MEAS)
    x = np.concatenate([z, np.zeros_like(z)], axis=1)                  # [N, 8]
    p = np.broadcast_to(p0 * np.eye(N_STATE), (len(z), N_STATE, N_STATE)).copy()
    return x, p


def predict(x: np.ndarray, p: np.ndarray, dt: float):
    """x [N, 8], P [N, 8, 8] moved dt frame periods ahead: x = F x, P = F P F' + dt^2 I."""
    f = transition(dt)
    x = x @ f.T                                                         # [N, 8]
    p = f @ p @ f.T + (dt * dt) * np.eye(N_STATE)                       # [N, 8, 8]
    return x, p


def update(x: np.ndarray, p: np.ndarray, boxes_ltwh: np.ndarray, r: float = R_VARIANCE):
    """The measurement update of each track i with box z_i [4] (H takes the first four).

    y = z - H x, S = H P H' + R, K = P H' S^-1, x += K y, P = (I - K H) P."""
    z = np.asarray(boxes_ltwh, np.float64).reshape(-1, N_MEAS)
    y = z - x[:, :N_MEAS]                                               # [N, 4]
    s = p[:, :N_MEAS, :N_MEAS] + r * np.eye(N_MEAS)                     # [N, 4, 4]
    # K' = S^-1 H P (P and S are symmetric), solved rather than inverted
    k = np.linalg.solve(s, p[:, :N_MEAS, :]).transpose(0, 2, 1)         # [N, 8, 4]
    x = x + np.einsum('nij,nj->ni', k, y)
    p = p - k @ p[:, :N_MEAS, :]
    return x, p


def extrapolate(x: np.ndarray, dt: float) -> np.ndarray:
    """The boxes [N, 4] (ltwh) the tracks' means give dt frame periods after their state time."""
    return x[:, :N_MEAS] + dt * x[:, N_MEAS:]
