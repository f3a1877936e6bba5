"""Batch images for CLIP (stack, BGR -> RGB, CLIP mean / std) and gather labels."""
from typing import Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from cissreg.registry import MODELS

CLIP_MEAN = (0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255)
CLIP_STD = (0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255)


@MODELS.register_module()
class CLIPDataPreprocessor(BaseDataPreprocessor):
    """Data preprocessor of :class:`CLIPPromptClassifier`.

    Input batch (from ``pseudo_collate``): ``inputs`` list of uint8 [3, H, W] tensors (BGR,
    cv2 order), ``data_samples`` with ``gt_label``; or a cached-feature batch with ``feats``
    [B, D], ``labels`` [B] and ``img_paths`` [B]. Other keys (``img_paths``, ``replay_feats``,
    ``replay_labels``) pass through unchanged.

    Output: ``inputs`` float [B, 3, H, W] normalised RGB (or None), ``labels`` int64 [B]
    (when the samples carry labels) and the other keys, moved to the model's device.

    Args:
        mean (Sequence[float]): Per-channel mean in RGB order, 0-255 scale. Defaults to CLIP's.
        std (Sequence[float]): Per-channel std in RGB order, 0-255 scale. Defaults to CLIP's.
        bgr_to_rgb (bool): Reverse the channel order first. Defaults to True.
    """

    def __init__(self,
                 mean: Sequence[float] = CLIP_MEAN,
                 std: Sequence[float] = CLIP_STD,
                 bgr_to_rgb: bool = True,
                 non_blocking: Optional[bool] = False) -> None:
        super().__init__(non_blocking)
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.bgr_to_rgb = bgr_to_rgb

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise images and collect labels; see the class docstring for the layout."""
        data = self.cast_data(dict(data))
        inputs = data.get('inputs')
        if inputs is not None:
            if isinstance(inputs, (list, tuple)):
                inputs = torch.stack(list(inputs))
            inputs = inputs.float()
            if self.bgr_to_rgb:
                inputs = inputs.flip(1)
            data['inputs'] = (inputs - self.mean) / self.std
        samples = data.get('data_samples')
        if data.get('labels') is None and samples and 'gt_label' in samples[0]:
            data['labels'] = torch.cat([s.gt_label.view(-1) for s in samples]).to(
                self.mean.device)
        return data
