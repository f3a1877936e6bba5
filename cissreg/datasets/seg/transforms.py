"""Transforms of the segmentation pipelines: load with label remapping, crop, flip, pack."""
import math
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement
from PIL import Image

from cissreg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadSegSample(BaseTransform):
    """Read ``img_path`` (BGR uint8) and ``seg_path`` (label PNG) and remap the labels.

    ``label_lut`` / ``trusted_lut`` (``[256]`` uint8, put into the sample by a task subset)
    map raw labels to training labels (``gt_seg``) and to the labels the gradient learner
    trusts (``trusted_seg``); without them the raw labels are used for both.

    Adds ``img``, ``gt_seg``, ``trusted_seg``, ``ori_shape``, ``img_shape``.
    """

    def transform(self, results: dict) -> dict:
        img = cv2.imread(results['img_path'], cv2.IMREAD_COLOR)
        if img is None:
            raise OSError(f'cannot read image {results["img_path"]}')
        try:
            raw = np.array(Image.open(results['seg_path']), dtype=np.uint8)
        except OSError as err:
            raise OSError(f'cannot read label map {results["seg_path"]}: {err}') from err
        if raw.shape[:2] != img.shape[:2]:
            raise ValueError(f'{results["seg_path"]} is {raw.shape[:2]} but its image '
                             f'{results["img_path"]} is {img.shape[:2]}')
        lut, trusted_lut = results.get('label_lut'), results.get('trusted_lut')
        results['img'] = img
        results['gt_seg'] = raw if lut is None else lut[raw]
        results['trusted_seg'] = results['gt_seg'] if trusted_lut is None else trusted_lut[raw]
        results['ori_shape'] = results['img_shape'] = img.shape[:2]
        return results


def _resize_pair(results: dict, size: Tuple[int, int]) -> None:
    """Resize image (bilinear) and label maps (nearest) to ``(h, w)``."""
    h, w = size
    results['img'] = cv2.resize(results['img'], (w, h), interpolation=cv2.INTER_LINEAR)
    for key in ('gt_seg', 'trusted_seg'):
        if key in results:
            results[key] = cv2.resize(results[key], (w, h), interpolation=cv2.INTER_NEAREST)
    results['img_shape'] = (h, w)


def _crop_pair(results: dict, top: int, left: int, h: int, w: int) -> None:
    results['img'] = results['img'][top:top + h, left:left + w]
    for key in ('gt_seg', 'trusted_seg'):
        if key in results:
            results[key] = results[key][top:top + h, left:left + w]


@TRANSFORMS.register_module()
class SegRandomResizedCrop(BaseTransform):
    """torchvision's ``RandomResizedCrop`` on image and labels (DKD / MiB / PLOP training).

    A crop of area ``scale`` x the image area (``U(scale)``; DKD uses 0.5-2.0, so most
    draws above 1 are rejected) and aspect ratio log-uniform in ``ratio`` is tried 10
    times; else a centre crop at the clamped ratio. The crop is resized to ``size``
    (bilinear image, nearest labels).

    Args:
        size (int | tuple[int, int]): Output ``(h, w)``.
        scale (tuple[float, float]): Defaults to (0.5, 2.0).
        ratio (tuple[float, float]): Defaults to (3/4, 4/3).
    """

    def __init__(self, size, scale: Tuple[float, float] = (0.5, 2.0),
                 ratio: Tuple[float, float] = (3. / 4., 4. / 3.)) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.scale, self.ratio = scale, ratio

    def crop_params(self, height: int, width: int) -> Tuple[int, int, int, int]:
        """``(top, left, h, w)`` drawn with numpy's global RNG."""
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * np.random.uniform(*self.scale)
            aspect = math.exp(np.random.uniform(*log_ratio))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return (int(np.random.randint(0, height - h + 1)),
                        int(np.random.randint(0, width - w + 1)), h, w)
        in_ratio = width / height
        if in_ratio < min(self.ratio):
            w, h = width, int(round(width / min(self.ratio)))
        elif in_ratio > max(self.ratio):
            h, w = height, int(round(height * max(self.ratio)))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def transform(self, results: dict) -> dict:
        top, left, h, w = self.crop_params(*results['img'].shape[:2])
        _crop_pair(results, top, left, h, w)
        _resize_pair(results, self.size)
        return results


@TRANSFORMS.register_module()
class SegRandomFlip(BaseTransform):
    """Horizontal flip of image and labels with probability ``prob`` (default 0.5)."""

    def __init__(self, prob: float = 0.5) -> None:
        self.prob = prob

    def transform(self, results: dict) -> dict:
        if np.random.rand() < self.prob:
            for key in ('img', 'gt_seg', 'trusted_seg'):
                if key in results:
                    results[key] = np.ascontiguousarray(results[key][:, ::-1])
        return results


@TRANSFORMS.register_module()
class SegResizeCenterCrop(BaseTransform):
    """DKD's evaluation crop (``dkd_eval_crop``): shorter side to ``size``, centre crop
    ``size`` x ``size``."""

    def __init__(self, size: int = 512) -> None:
        self.size = size

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        s = self.size / min(h, w)
        nh, nw = max(int(round(h * s)), self.size), max(int(round(w * s)), self.size)
        _resize_pair(results, (nh, nw))
        top, left = (nh - self.size) // 2, (nw - self.size) // 2
        _crop_pair(results, top, left, self.size, self.size)
        results['img_shape'] = (self.size, self.size)
        return results


@TRANSFORMS.register_module()
class PackSegInputs(BaseTransform):
    """``inputs`` ``[3, H, W]`` uint8 and a data sample with ``gt_seg`` / ``trusted_seg``
    (``[H, W]`` long) and ``meta_keys`` as metainfo."""

    def __init__(self, meta_keys: Sequence[str] = (
            'img_path', 'seg_path', 'img_id', 'ori_shape', 'img_shape', 'ciss_task',
            'ciss_num_base', 'ciss_num_seen')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = np.ascontiguousarray(results['img'].transpose(2, 0, 1))
        sample = BaseDataElement(metainfo={k: results[k] for k in self.meta_keys
                                           if k in results})
        sample.gt_seg = torch.from_numpy(results['gt_seg'].astype(np.int64))
        if 'trusted_seg' in results:
            sample.trusted_seg = torch.from_numpy(results['trusted_seg'].astype(np.int64))
        return dict(inputs=torch.from_numpy(img), data_samples=sample)


def label_lut(keep: Sequence[int], fill: int = 0, ignore: Optional[int] = 255) -> np.ndarray:
    """``[256]`` uint8 map: labels in ``keep`` (and ``ignore``) unchanged, others -> ``fill``."""
    lut = np.full(256, fill, dtype=np.uint8)
    keep = list(keep) + ([ignore] if ignore is not None else [])
    lut[np.asarray(keep, dtype=np.int64)] = np.asarray(keep, dtype=np.uint8)
    return lut
