"""Transforms of (image1, mask1, image2, mask2, caption) samples for region MLLMs."""
from typing import Dict, Optional

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform

from cissreg.registry import TRANSFORMS
from cissreg.utils.rle import polygons_to_mask, rle_decode
from cissreg.utils.word_tokenizer import load_or_build_word_tokenizer


def _read_rgb(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f'cannot read image {path!r}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def decode_segmentation(segm, height: int, width: int) -> np.ndarray:
    """COCO ``segmentation`` (RLE dict or polygon list) -> uint8 mask [H, W]."""
    if isinstance(segm, dict):
        return rle_decode(segm)
    return polygons_to_mask(segm, height, width)


@TRANSFORMS.register_module()
class LoadRegionPair(BaseTransform):
    """Read ``img1_path`` / ``img2_path`` (RGB) and decode ``segm1`` / ``segm2`` into
    ``img1``, ``img2`` [H, W, 3] uint8 and ``mask1``, ``mask2`` [H, W] uint8. A sample
    without ``img2_path`` (a RefCOCO expression) uses image 1 and mask 1 for both."""

    def transform(self, results: Dict) -> Dict:
        """Load one sample."""
        img1 = _read_rgb(results['img1_path'])
        h, w = img1.shape[:2]
        results['img1'] = img1
        results['mask1'] = decode_segmentation(results['segm1'], h, w)
        if results.get('img2_path') is None:
            results['img2'], results['mask2'] = img1, results['mask1']
        else:
            img2 = _read_rgb(results['img2_path'])
            results['img2'] = img2
            results['mask2'] = decode_segmentation(results['segm2'], *img2.shape[:2])
        return results


@TRANSFORMS.register_module()
class ResizeRegionPair(BaseTransform):
    """Resize both images (bilinear) and masks (nearest) to ``size`` x ``size``.

    Args:
        size (int): Output side.
    """

    def __init__(self, size: int) -> None:
        self.size = size

    def transform(self, results: Dict) -> Dict:
        """Resize in place."""
        s = (self.size, self.size)
        for k in ('img1', 'img2'):
            results[k] = cv2.resize(results[k], s, interpolation=cv2.INTER_LINEAR)
        for k in ('mask1', 'mask2'):
            results[k] = cv2.resize(results[k], s, interpolation=cv2.INTER_NEAREST)
        return results


@TRANSFORMS.register_module()
class TokenizeCaption(BaseTransform):
    """``caption`` -> ``caption_ids`` [max_len]: the words, EOS, then padding (truncated to
    keep the EOS).

    Args:
        tokenizer (dict): ``dict(path=..., words=None)`` for ``load_or_build_word_tokenizer``.
        max_len (int): Length of ``caption_ids``.
    """

    def __init__(self, tokenizer: dict, max_len: int) -> None:
        self.tokenizer_cfg = tokenizer
        self.max_len = max_len
        self._tokenizer = None

    def transform(self, results: Dict) -> Dict:
        """Tokenize."""
        if self._tokenizer is None:
            self._tokenizer = load_or_build_word_tokenizer(**self.tokenizer_cfg)
        tok = self._tokenizer
        words = tok.encode(results['caption'], add_special_tokens=False)[:self.max_len - 1]
        ids = words + [tok.eos_token_id]
        results['caption_ids'] = np.array(ids + [tok.pad_token_id] * (self.max_len - len(ids)),
                                          dtype=np.int64)
        return results


@TRANSFORMS.register_module()
class PackRegionPair(BaseTransform):
    """Tensors for the model: ``img1``/``img2`` [3, H, W] uint8, ``mask1``/``mask2`` [H, W]
    float, ``caption_ids`` [L] int64, and ``data_samples`` (a dict of ``meta_keys``).

    Args:
        meta_keys (tuple[str]): Keys copied into ``data_samples``.
    """

    def __init__(self, meta_keys=('sample_id', 'img1_path', 'img2_path', 'caption')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        """Pack."""
        out = {k: torch.from_numpy(np.ascontiguousarray(results[k].transpose(2, 0, 1)))
               for k in ('img1', 'img2')}
        out.update({k: torch.from_numpy(results[k].astype(np.float32))
                    for k in ('mask1', 'mask2')})
        out['caption_ids'] = torch.from_numpy(results['caption_ids'])
        out['data_samples'] = {k: _meta(results.get(k)) for k in self.meta_keys}
        return out


def _meta(value: Optional[object]) -> object:
    return '' if value is None else value
