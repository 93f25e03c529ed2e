"""Video data for training: converters into the canonical dataset, clip sampling, synthetic sets.

The canonical format itself (reader, validator, writer) is ``video_perception.dataset``.
"""
