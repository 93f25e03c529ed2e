"""Streamer for any detector (Li, Wang and Ramanan, "Towards Streaming Perception", ECCV 2020):
tracks, Kalman forecasting to the time the output is consumed, and shrinking-tail scheduling.

* ``kalman``: the constant-velocity filter on (x, y, w, h), time in frame periods;
* ``association``: greedy same-class IoU association;
* ``forecaster``: ``TrackForecaster``, one camera's tracks and their forecasts;
* ``schedule``: the shrinking-tail rule and its hooks into the node and the simulator;
* ``stage``: what a node does with them (parameters, one forecaster per camera, diagnostics);
* ``offline``: the forecast made for each ground-truth frame from a results file (evaluate,
  replay).

Nothing here knows a detector family: it works on boxes in original pixels.
"""
