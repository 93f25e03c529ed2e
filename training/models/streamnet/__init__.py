"""DAMO-StreamNet family (specs/streamnet.md): blocks, backbone, necks, dual path, head, losses."""
