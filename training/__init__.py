"""Training code: models, losses, distillation, data, the engine and export (needs torch).

The runtime package ``video_perception`` never imports this package.
"""
