"""DAMO-StreamNet family (specs/streamnet.md): blocks, backbone, necks, dual path, head, losses,
AK-distillation and the YOLOX checkpoint importer."""
