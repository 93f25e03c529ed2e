"""Evaluation: COCO AP, streaming AP, K-step sAP_K, lesion PRF, latency, reports and plots.

AP always comes from pycocotools (``coco_ap``); the modes differ only in how outputs are paired
with ground-truth frames (``kstep``, ``streaming``).
"""
