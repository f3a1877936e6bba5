"""Batch images and label maps for semantic segmentation."""
from typing import List, Optional, Sequence

from mmengine.model import ImgDataPreprocessor
from torch import Tensor

from cissreg.registry import MODELS


def stack_label_maps(maps: List[Tensor], size: Sequence[int], pad: int = 255) -> Tensor:
    """Stack ``[H_i, W_i]`` label maps top-left into ``[N, H, W]`` padded with ``pad``."""
    out = maps[0].new_full((len(maps), int(size[0]), int(size[1])), pad)
    for i, m in enumerate(maps):
        out[i, :m.shape[0], :m.shape[1]] = m
    return out


@MODELS.register_module()
class SegDataPreprocessor(ImgDataPreprocessor):
    """Normalise and pad a list of uint8 ``[3, H, W]`` BGR images; stack label maps.

    Images are converted to RGB, normalised with ``mean`` / ``std`` (ImageNet by default)
    and padded at the bottom / right to the batch's largest size (``pad_value`` 0). Every
    data sample's ``gt_seg`` (and ``trusted_seg`` when present) is stacked into
    ``data['labels']`` / ``data['trusted']`` (``[N, H, W]`` long, padding 255).

    Args:
        mean (Sequence[float]): RGB mean. Defaults to ImageNet's in 0-255 units.
        std (Sequence[float]): RGB std. Defaults to ImageNet's.
        pad_size_divisor (int): Defaults to 1.
        bgr_to_rgb (bool): Defaults to True.
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 pad_size_divisor: int = 1,
                 bgr_to_rgb: bool = True,
                 non_blocking: Optional[bool] = False) -> None:
        super().__init__(mean=mean, std=std, pad_size_divisor=pad_size_divisor,
                         bgr_to_rgb=bgr_to_rgb, non_blocking=non_blocking)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Returns ``dict(inputs [N, 3, H, W] float, data_samples, labels, trusted)``;
        ``labels`` / ``trusted`` are ``None`` when the samples carry no ``gt_seg``."""
        out = super().forward(data, training)
        samples = out.get('data_samples') or []
        size = out['inputs'].shape[-2:]
        labels = trusted = None
        if samples and 'gt_seg' in samples[0]:
            labels = stack_label_maps([s.gt_seg.long() for s in samples], size).to(
                out['inputs'].device)
            trusted = labels
            if 'trusted_seg' in samples[0]:
                trusted = stack_label_maps([s.trusted_seg.long() for s in samples], size).to(
                    out['inputs'].device)
        out['labels'], out['trusted'] = labels, trusted
        return out
