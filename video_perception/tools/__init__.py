"""Command-line tools: publish, echo (see video_perception.cli)."""
