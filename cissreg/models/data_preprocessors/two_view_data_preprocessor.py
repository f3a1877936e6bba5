"""Batch images and, in training, make two randomly augmented views of each (on the batch)."""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from cissreg.registry import MODELS


@MODELS.register_module()
class TwoViewDataPreprocessor(BaseDataPreprocessor):
    """Normalise a batch; in training return two augmented views stacked ``[2B, C, H, W]``.

    Augmentation runs batched on the model's device from torch's global RNG (which the
    runner reseeds per epoch, so a resumed run draws the same views): random resized crop
    (area in ``crop_scale``, aspect ratio in ``crop_ratio``), rotation up to ``rotation``
    degrees and shear up to ``shear`` by one affine ``grid_sample``, optionally a smooth
    random displacement (``elastic``, an elastic-like deformation for digits), horizontal flip
    with ``flip_prob``, brightness / contrast jitter of ``jitter``.
    Evaluation returns the single normalised image.

    Input (``pseudo_collate``): ``inputs`` list of uint8 [C, H, W] (BGR), ``data_samples``.
    Output: ``inputs`` float [B or 2B, C, H, W] (RGB), ``data_samples`` unchanged.

    Args:
        mean (Sequence[float]): Per-channel mean (RGB, 0-255). Defaults to ImageNet's.
        std (Sequence[float]): Per-channel std (RGB, 0-255). Defaults to ImageNet's.
        bgr_to_rgb (bool): Defaults to True.
        crop_scale (tuple[float, float]): Defaults to (0.5, 1.0).
        crop_ratio (tuple[float, float]): Defaults to (3/4, 4/3).
        flip_prob (float): Defaults to 0.5 (0 for digits).
        jitter (float): Brightness and contrast factors drawn in ``1 +- jitter``.
            Defaults to 0.4.
        rotation (float): Largest rotation in degrees (uniform in ``+-rotation``).
            Defaults to 0.
        shear (float): Largest shear factor (uniform in ``+-shear``, both axes). Defaults to 0.
        elastic (float): Largest displacement of a 4x4 control grid, bicubically upsampled, in
            units of the half image size (0.05 moves pixels by up to ~0.7 px at 28 px).
            Defaults to 0 (off).
        padding_mode (str): ``grid_sample`` padding outside the image: ``'reflection'`` or
            ``'zeros'`` (black: the background of digits). Defaults to ``'reflection'``.
    """

    def __init__(self, mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), bgr_to_rgb: bool = True,
                 crop_scale: Tuple[float, float] = (0.5, 1.0),
                 crop_ratio: Tuple[float, float] = (3 / 4, 4 / 3), flip_prob: float = 0.5,
                 jitter: float = 0.4, rotation: float = 0.0, shear: float = 0.0,
                 elastic: float = 0.0, padding_mode: str = 'reflection',
                 non_blocking: Optional[bool] = False) -> None:
        super().__init__(non_blocking)
        if padding_mode not in ('reflection', 'zeros', 'border'):
            raise ValueError(f"TwoViewDataPreprocessor: padding_mode must be 'reflection', "
                             f"'zeros' or 'border', got {padding_mode!r}")
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.bgr_to_rgb = bgr_to_rgb
        self.crop_scale, self.crop_ratio = tuple(crop_scale), tuple(crop_ratio)
        self.flip_prob, self.jitter = flip_prob, jitter
        self.rotation, self.shear, self.elastic = rotation, shear, elastic
        self.padding_mode = padding_mode

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(dict(data))
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        inputs = inputs.float()
        if self.bgr_to_rgb and inputs.shape[1] == 3:
            inputs = inputs.flip(1)
        if training:
            inputs = torch.cat([self.augment(inputs), self.augment(inputs)])
        data['inputs'] = (inputs - self.mean) / self.std
        return data

    def augment(self, images: Tensor) -> Tensor:
        """One random view of ``images`` float [B, C, H, W] (0-255 scale), same shape."""
        b = images.shape[0]
        dev = images.device
        area = torch.empty(b, device=dev).uniform_(*self.crop_scale)
        log_r = torch.empty(b, device=dev).uniform_(math.log(self.crop_ratio[0]),
                                                    math.log(self.crop_ratio[1]))
        ratio = torch.exp(log_r)
        sx = torch.sqrt(area * ratio).clamp(max=1.0)
        sy = torch.sqrt(area / ratio).clamp(max=1.0)
        tx = (torch.rand(b, device=dev) * 2 - 1) * (1 - sx)
        ty = (torch.rand(b, device=dev) * 2 - 1) * (1 - sy)
        flip = torch.where(torch.rand(b, device=dev) < self.flip_prob, -1.0, 1.0)
        theta = torch.zeros(b, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 2] = sx * flip, tx
        theta[:, 1, 1], theta[:, 1, 2] = sy, ty
        if self.rotation > 0 or self.shear > 0:
            angle = (torch.rand(b, device=dev) * 2 - 1) * math.radians(self.rotation)
            sh = (torch.rand(b, 2, device=dev) * 2 - 1) * self.shear
            cos, sin = torch.cos(angle), torch.sin(angle)
            rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
            shear = torch.eye(2, device=dev).repeat(b, 1, 1)
            shear[:, 0, 1], shear[:, 1, 0] = sh[:, 0], sh[:, 1]
            theta[:, :, :2] = theta[:, :, :2] @ rot @ shear
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        if self.elastic > 0:
            ctrl = (torch.rand(b, 2, 4, 4, device=dev) * 2 - 1) * self.elastic
            grid = grid + F.interpolate(ctrl, size=images.shape[-2:], mode='bicubic',
                                        align_corners=True).permute(0, 2, 3, 1)
        out = F.grid_sample(images, grid, mode='bilinear', padding_mode=self.padding_mode,
                            align_corners=False)
        if self.jitter > 0:
            bright = 1 + (torch.rand(b, 1, 1, 1, device=dev) * 2 - 1) * self.jitter
            contrast = 1 + (torch.rand(b, 1, 1, 1, device=dev) * 2 - 1) * self.jitter
            mean = out.mean(dim=(1, 2, 3), keepdim=True)
            out = ((out - mean) * contrast + mean) * bright
        return out.clamp(0, 255)
