"""Video data for training: converters into the canonical dataset, clip sampling, synthetic sets,
and each family's samples (``streamnet.py``: frames + future GT; ``v2i.py``: clips + key GT).

The canonical format itself (reader, validator, writer) is ``video_perception.dataset``.
"""
