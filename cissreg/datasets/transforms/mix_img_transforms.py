"""Transforms that mix training images: ``Mosaic``, ``MixUp`` and ``CopyPaste`` (ultralytics).

``Mosaic`` and ``MixUp`` take other images from ``results['dataset']`` (set by cissreg's
detection datasets in training mode) and leave that key for the next mixing transform;
``PackDetInputs`` drops it. Images are uint8 [H, W, 3] BGR, boxes float32 [N, 4] xyxy
pixels and optional ``gt_segments`` float32 [N, P, 2], as in :mod:`.transforms`; every image
of one mix must have segments or none.
"""
import math
import random
import weakref
from collections import deque
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform, Compose

from cissreg.registry import TRANSFORMS

from .transforms import _keep, _pair

__all__ = ['Mosaic', 'MixUp', 'CopyPaste']


def _clip_and_filter(results: dict, width: float, height: float, min_size: float) -> None:
    """Clip boxes (and segments) to the image; drop boxes narrower or shorter than
    ``min_size``."""
    boxes = results['gt_bboxes']
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    if 'gt_segments' in results:
        segments = results['gt_segments']
        segments[..., 0] = segments[..., 0].clip(0, width)
        segments[..., 1] = segments[..., 1].clip(0, height)
    _keep(results, ((boxes[:, 2] - boxes[:, 0]) > min_size) &
          ((boxes[:, 3] - boxes[:, 1]) > min_size))


def _compose(transforms: Optional[Sequence]) -> Compose:
    """Compose dict configs (built in cissreg's registry) and callables."""
    return Compose([TRANSFORMS.build(t) if isinstance(t, dict) else t
                    for t in (transforms or [])])


def _load(pre_transform: Compose, dataset, index: int, who: str) -> dict:
    info = dataset.get_data_info(index)
    info['dataset'] = dataset
    results = pre_transform(info)
    if results is None or 'img' not in results or 'gt_bboxes' not in results:
        raise ValueError(f'{who}: pre_transform must produce `img` and `gt_bboxes` (use '
                         "dict(type='LoadImageFromFile'), dict(type='LoadDetAnnotations'))")
    return results


def _concat_gt(results: dict, others: Sequence[dict], who: str) -> None:
    """Concatenate the GT arrays of ``results`` (first) and ``others`` into ``results``."""
    parts = [results] + list(others)
    has_segments = ['gt_segments' in p for p in parts]
    if any(has_segments) and not all(has_segments):
        raise ValueError(f'{who}: some mixed images have gt_segments and some do not; load '
                         'every image with the same LoadDetAnnotations(with_segments=...)')
    for key, dtype in (('gt_bboxes', np.float32), ('gt_bboxes_labels', np.int64),
                       ('gt_ignore_flags', bool), ('gt_segments', np.float32)):
        if key in results:
            results[key] = np.concatenate([p[key] for p in parts]).astype(dtype)


def _dataset(results: dict, who: str):
    dataset = results.get('dataset')
    if dataset is None:
        raise ValueError(f"{who} needs results['dataset']: use a cissreg detection dataset "
                         '(BaseDetDataset subclass) with test_mode=False')
    return dataset


@TRANSFORMS.register_module()
class Mosaic(BaseTransform):
    """4-image mosaic (ultralytics ``Mosaic(n=4)``) on a (2h, 2w) canvas.

    The current image and three partner images are each resized so they fit in ``img_scale``
    (ultralytics' ``load_image``) and placed around a random centre
    ``(xc, yc) ~ U(center_ratio_range) * (w, h)``; the rest is ``pad_val``. Boxes are shifted,
    clipped to the canvas and dropped when narrower or shorter than ``min_bbox_size``.

    Partners, as in ultralytics, are drawn with replacement from a buffer of the
    ``buffer_size`` most recently seen (already decoded and resized) images of this worker
    process, the current one included, instead of decoding three more files per sample
    (``use_buffer=False`` decodes three random dataset images through ``pre_transform``).
    The buffer belongs to the dataset (``results['dataset']``), ``img_scale`` and
    ``buffer_size``: the main pipeline's mosaic and the one inside ``MixUp``'s
    ``pre_transform`` share it, as every load of an ultralytics dataset feeds its one buffer.

    The output is twice ``img_scale``; follow it with ``RandomAffine``, which reads
    ``mosaic_border`` (set here to ``(-(w // 2), -(h // 2))``) and crops back to ``img_scale``.

    Args:
        img_scale (int | tuple[int, int]): (w, h) of one tile and of the final image.
        center_ratio_range (tuple[float, float]): Range of the centre. Defaults to (0.5, 1.5).
        pad_val (float): Canvas fill value. Defaults to 114.
        pre_transform (Sequence[dict], optional): Loading transforms for partners decoded
            from the dataset (``use_buffer=False``), usually ``LoadImageFromFile`` +
            ``LoadDetAnnotations``.
        prob (float): Probability of applying the mosaic. Defaults to 1.0. A skipped image
            passes unchanged (no resize), so with ``prob < 1`` add a ``LetterResize`` to
            ``img_scale`` after ``RandomAffine`` (a no-op on mosaic outputs).
        min_bbox_size (float): Boxes with width or height <= this after clipping are dropped.
            Defaults to 1.0.
        use_buffer (bool): Draw partners from the buffer. Defaults to True.
        buffer_size (int): ultralytics: ``min(num_images, 8 * batch_size, 1000)``. Defaults
            to 128.
    """

    def __init__(self, img_scale: Union[int, Tuple[int, int]] = 640,
                 center_ratio_range: Tuple[float, float] = (0.5, 1.5), pad_val: float = 114,
                 pre_transform: Optional[Sequence[dict]] = None, prob: float = 1.0,
                 min_bbox_size: float = 1.0, use_buffer: bool = True,
                 buffer_size: int = 128) -> None:
        self.img_scale = _pair(img_scale)
        self.center_ratio_range = center_ratio_range
        self.pad_val = pad_val
        self.pre_transform = _compose(pre_transform)
        self.prob = prob
        self.min_bbox_size = min_bbox_size
        self.use_buffer = use_buffer
        self.buffer_size = max(int(buffer_size), 1)
        self.buffer: deque = deque(maxlen=self.buffer_size)  # the one used last

    # dataset -> {(img_scale, buffer_size): deque of tiles}, per process
    _buffers: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()

    def _shared_buffer(self, results: dict) -> deque:
        dataset = results.get('dataset')
        try:
            per_dataset = Mosaic._buffers.setdefault(dataset, {})
        except TypeError:  # no dataset, or one that cannot be weakly referenced
            return self.buffer
        key = (self.img_scale, self.buffer_size)
        if key not in per_dataset:
            per_dataset[key] = deque(maxlen=self.buffer_size)
        return per_dataset[key]

    def _tile(self, sample: dict) -> dict:
        """Resize to fit ``img_scale`` (ultralytics ``load_image``); boxes follow."""
        img = sample['img']
        h0, w0 = img.shape[:2]
        w, h = self.img_scale
        r = min(w / w0, h / h0)
        tw, th = min(math.ceil(w0 * r), w), min(math.ceil(h0 * r), h)
        if (tw, th) != (w0, h0):
            img = cv2.resize(img, (tw, th), interpolation=cv2.INTER_LINEAR)
        scale = np.array([tw / w0, th / h0] * 2, np.float32)
        tile = dict(img=img, gt_bboxes=sample['gt_bboxes'].reshape(-1, 4) * scale,
                    gt_bboxes_labels=sample['gt_bboxes_labels'],
                    gt_ignore_flags=sample['gt_ignore_flags'])
        if 'gt_segments' in sample:
            tile['gt_segments'] = sample['gt_segments'] * scale[:2]
        return tile

    def _partners(self, results: dict, tile: dict) -> list:
        if self.use_buffer:
            self.buffer = self._shared_buffer(results)
            self.buffer.append(tile)
            return random.choices(list(self.buffer), k=3)
        dataset = _dataset(results, 'Mosaic')
        return [self._tile(_load(self.pre_transform, dataset, i, 'Mosaic'))
                for i in np.random.randint(0, len(dataset), 3)]

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.prob:
            return results
        w, h = self.img_scale
        tile = self._tile(results)
        tiles = [tile] + self._partners(results, tile)
        xc = int(np.random.uniform(*self.center_ratio_range) * w)
        yc = int(np.random.uniform(*self.center_ratio_range) * h)
        canvas = np.full((2 * h, 2 * w, 3), self.pad_val, dtype=np.uint8)
        shifted = []
        for i, sample in enumerate(tiles):
            th, tw = sample['img'].shape[:2]
            if i == 0:  # top left
                x1a, y1a, x2a, y2a = max(xc - tw, 0), max(yc - th, 0), xc, yc
                x1b, y1b, x2b, y2b = tw - (x2a - x1a), th - (y2a - y1a), tw, th
            elif i == 1:  # top right
                x1a, y1a, x2a, y2a = xc, max(yc - th, 0), min(xc + tw, 2 * w), yc
                x1b, y1b, x2b, y2b = 0, th - (y2a - y1a), min(tw, x2a - x1a), th
            elif i == 2:  # bottom left
                x1a, y1a, x2a, y2a = max(xc - tw, 0), yc, xc, min(2 * h, yc + th)
                x1b, y1b, x2b, y2b = tw - (x2a - x1a), 0, tw, min(y2a - y1a, th)
            else:  # bottom right
                x1a, y1a, x2a, y2a = xc, yc, min(xc + tw, 2 * w), min(2 * h, yc + th)
                x1b, y1b, x2b, y2b = 0, 0, min(tw, x2a - x1a), min(y2a - y1a, th)
            canvas[y1a:y2a, x1a:x2a] = sample['img'][y1b:y2b, x1b:x2b]
            shift = np.array([x1a - x1b, y1a - y1b], np.float32)
            shifted.append(dict(sample, gt_bboxes=sample['gt_bboxes'] + np.tile(shift, 2)))
            if 'gt_segments' in sample:
                shifted[-1]['gt_segments'] = sample['gt_segments'] + shift
        results['img'] = canvas
        results['img_shape'] = canvas.shape[:2]
        results.update({k: v for k, v in shifted[0].items() if k.startswith('gt_')})
        _concat_gt(results, shifted[1:], 'Mosaic')
        _clip_and_filter(results, 2 * w, 2 * h, self.min_bbox_size)
        results['mosaic_border'] = (-(w // 2), -(h // 2))
        results.pop('scale_factor', None)
        results.pop('pad_param', None)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(img_scale={self.img_scale}, '
                f'center_ratio_range={self.center_ratio_range}, prob={self.prob}, '
                f'use_buffer={self.use_buffer}, buffer_size={self.buffer_size})')


@TRANSFORMS.register_module()
class MixUp(BaseTransform):
    """ultralytics ``MixUp``: blend with a second, separately augmented training image.

    With probability ``prob`` a random dataset image goes through ``pre_transform`` (in
    ultralytics the same loading + mosaic + affine as the current image), and
    ``img = uint8(img * r + img2 * (1 - r))`` with ``r ~ Beta(32, 32)``; the boxes, labels and
    ignore flags of both are concatenated. Both images must have the same size.

    Args:
        prob (float): ultralytics ``mixup``. Defaults to 0.0.
        pre_transform (Sequence[dict], optional): Pipeline producing the second image.
        alpha (float): Beta distribution parameter. Defaults to 32.0.
        beta (float): Beta distribution parameter. Defaults to 32.0.
    """

    def __init__(self, prob: float = 0.0, pre_transform: Optional[Sequence[dict]] = None,
                 alpha: float = 32.0, beta: float = 32.0) -> None:
        self.prob = prob
        self.pre_transform = _compose(pre_transform)
        self.alpha = alpha
        self.beta = beta

    def transform(self, results: dict) -> dict:
        if random.uniform(0, 1) > self.prob or self.prob == 0:
            return results
        dataset = _dataset(results, 'MixUp')
        other = _load(self.pre_transform, dataset, random.randint(0, len(dataset) - 1), 'MixUp')
        if other['img'].shape != results['img'].shape:
            raise ValueError(f"MixUp: image sizes differ ({results['img'].shape} vs "
                             f"{other['img'].shape}); pre_transform must give the same size")
        r = np.random.beta(self.alpha, self.beta)
        results['img'] = (results['img'] * r + other['img'] * (1 - r)).astype(np.uint8)
        _concat_gt(results, [other], 'MixUp')
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob}, alpha={self.alpha}, beta={self.beta})'


@TRANSFORMS.register_module()
class CopyPaste(BaseTransform):
    """ultralytics ``CopyPaste`` (``copy_paste_mode='flip'``): paste instance segments of the
    image's horizontal mirror image onto it.

    The mirrored instances whose box covers less than 30 % of every original box
    (intersection over the original box's area, ultralytics ``bbox_ioa``) are candidates;
    the ``round(prob * n)`` of them with the smallest overlap (in that order) are added to the
    GT and their mirrored polygons are filled with the mirrored image's pixels. Like
    ultralytics it changes nothing without ``gt_segments`` (``LoadDetAnnotations(
    with_segments=True)``) and is deterministic; ultralytics places it between ``Mosaic`` and
    ``RandomAffine``.

    Args:
        prob (float): ultralytics ``copy_paste``: the fraction of candidates pasted.
            Defaults to 0.5.
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'CopyPaste: prob must lie in [0, 1], got {prob}')
        self.prob = prob

    def transform(self, results: dict) -> dict:
        segments = results.get('gt_segments')
        if segments is None or not len(segments) or self.prob == 0:
            return results
        img = results['img']
        w = img.shape[1]
        boxes = results['gt_bboxes']
        flipped = boxes.copy()
        flipped[:, [0, 2]] = w - boxes[:, [2, 0]]
        inter = ((np.minimum(flipped[:, None, 2], boxes[:, 2]) -
                  np.maximum(flipped[:, None, 0], boxes[:, 0])).clip(0) *
                 (np.minimum(flipped[:, None, 3], boxes[:, 3]) -
                  np.maximum(flipped[:, None, 1], boxes[:, 1])).clip(0))
        ioa = inter / ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) + 1e-7)
        candidates = np.nonzero((ioa < 0.30).all(1))[0]
        candidates = candidates[np.argsort(ioa.max(1)[candidates])]
        chosen = candidates[:round(self.prob * len(candidates))]
        if not len(chosen):
            return results
        mirrored = segments[chosen].copy()
        mirrored[..., 0] = w - mirrored[..., 0]
        mask = np.zeros(img.shape, np.uint8)
        for polygon in mirrored:
            cv2.drawContours(mask, [polygon.astype(np.int32)], -1, (1, 1, 1), cv2.FILLED)
        paste = mask.astype(bool)
        img = img.copy()
        img[paste] = cv2.flip(results['img'], 1)[paste]
        results['img'] = img
        added = dict(gt_bboxes=flipped[chosen], gt_segments=mirrored,
                     gt_bboxes_labels=results['gt_bboxes_labels'][chosen],
                     gt_ignore_flags=results['gt_ignore_flags'][chosen])
        _concat_gt(results, [added], 'CopyPaste')
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob})'
