"""Evaluation: COCO AP, streaming AP, K-step sAP_K, lesion PRF, latency, reports and plots.

AP always comes from pycocotools (``coco_ap``); the modes differ only in how outputs are paired
with ground-truth frames (``kstep``, ``streaming``). ``metrics`` runs a mode and registers every
other number of a report with the rows it prints as; ``report`` writes the JSON and the tables.
The command line is ``video_perception.tools.evaluate``.
"""
