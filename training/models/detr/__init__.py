"""DETR family for V2I-DETR (specs/v2i_detr.md): DETR, Deformable DETR, SAM-DETR students, the
MSI video teacher, TFD/CQD distillation, export. Names and builders are in ``zoo.MODELS``."""
