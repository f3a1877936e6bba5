"""Batch images for YOLO detectors: BGR -> RGB, scale to [0, 1], pad to a stride multiple."""
import math
from typing import Optional, Sequence, Union

import torch
from mmengine.model import ImgDataPreprocessor

from cissreg.registry import MODELS


@MODELS.register_module()
class YOLODetDataPreprocessor(ImgDataPreprocessor):
    """Stack a list of uint8 ``[3, H, W]`` BGR images into a float batch for YOLO.

    The batch is ``[B, 3, H_pad, W_pad]`` with ``H_pad, W_pad`` the largest height / width
    rounded up to ``pad_size_divisor``; images sit at the top-left and the rest is
    ``pad_value`` (in normalised units, as in mmengine). The uint8 images are written straight
    into the float batch (one copy each) and normalised in place. Each data sample gets
    ``batch_input_shape`` and ``pad_shape`` metas (both ``(H_pad, W_pad)``).

    Args:
        mean (Sequence[float]): Per-channel mean (RGB order when ``bgr_to_rgb``).
            Defaults to (0, 0, 0).
        std (Sequence[float]): Per-channel std. Defaults to (255, 255, 255): YOLO inputs in
            [0, 1].
        pad_size_divisor (int): Padded sizes are multiples of it. Defaults to 32.
        pad_value (float): Value of padded pixels after normalisation. Defaults to 0.
        bgr_to_rgb (bool): Reverse the channel order. Defaults to True.
        non_blocking (bool): Asynchronous host-to-device copies. Defaults to False.
    """

    def __init__(self,
                 mean: Sequence[float] = (0., 0., 0.),
                 std: Sequence[float] = (255., 255., 255.),
                 pad_size_divisor: int = 32,
                 pad_value: Union[float, int] = 0,
                 bgr_to_rgb: bool = True,
                 non_blocking: Optional[bool] = False) -> None:
        super().__init__(mean=mean, std=std, pad_size_divisor=pad_size_divisor,
                         pad_value=pad_value, bgr_to_rgb=bgr_to_rgb, non_blocking=non_blocking)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Batch, convert and normalise ``data['inputs']``.

        Args:
            data (dict): ``inputs`` (list of ``[3, H_i, W_i]`` tensors, or a ``[B, 3, H, W]``
                tensor) and optional ``data_samples``.
            training (bool): Unused (no batch augmentation). Defaults to False.

        Returns:
            dict: ``inputs`` float ``[B, 3, H_pad, W_pad]`` and ``data_samples``.
        """
        data = self.cast_data(data)
        images = data['inputs']
        if isinstance(images, torch.Tensor):
            images = list(images)
        if not images:
            raise ValueError('YOLODetDataPreprocessor: empty batch')
        for i, img in enumerate(images):
            if img.dim() != 3 or img.shape[0] != self.mean.shape[0]:
                raise ValueError(f'YOLODetDataPreprocessor: image {i} has shape '
                                 f'{tuple(img.shape)}, expected [{self.mean.shape[0]}, H, W]')
        height = max(img.shape[1] for img in images)
        width = max(img.shape[2] for img in images)
        height = math.ceil(height / self.pad_size_divisor) * self.pad_size_divisor
        width = math.ceil(width / self.pad_size_divisor) * self.pad_size_divisor
        batch = images[0].new_empty((len(images), images[0].shape[0], height, width),
                                    dtype=torch.float)
        padded = any(img.shape[1:] != (height, width) for img in images)
        if padded:
            batch.fill_(self.pad_value)
        for dst, img in zip(batch, images):
            region = dst[:, :img.shape[1], :img.shape[2]]
            region.copy_(img.flip(0) if self._channel_conversion else img)
            if padded:
                region.sub_(self.mean).div_(self.std)
        if not padded:
            batch.sub_(self.mean).div_(self.std)
        data['inputs'] = batch
        samples = data.setdefault('data_samples', None)
        if samples is not None:
            for sample in samples:
                sample.set_metainfo(dict(batch_input_shape=(height, width),
                                         pad_shape=(height, width)))
        return data
