"""Command-line tools, one module per ``video-perception`` subcommand (publish, echo, replay,
evaluate, build-engine; see ``video_perception.cli``); ``cli_common`` holds what they share."""
