"""Detection augmentations with ultralytics YOLOv8 semantics, on numpy images and boxes.

Images are uint8 [H, W, 3] BGR; ``gt_bboxes`` float32 [N, 4] xyxy in pixels of the current
image, with ``gt_bboxes_labels`` int64 [N], ``gt_ignore_flags`` bool [N] and, when loaded
(``LoadDetAnnotations(with_segments=True)``), ``gt_segments`` float32 [N, P, 2] (each
instance's polygon resampled to P points, ultralytics' ``Instances.segments``) kept aligned.
Every geometric transform maps the segment points as it maps the boxes; ``RandomAffine``
then takes the boxes from the transformed segments, as ultralytics does whenever its labels
carry segments (a rotated or sheared polygon gives a tighter box than a rotated box).
Randomness comes from ``np.random`` (mmengine seeds it per worker).

Geometric records, for mapping predictions back to the original image:
``scale_factor`` (w_scale, h_scale) and ``pad_param`` float32 (top, bottom, left, right), so
that ``original = (input - [left, top, left, top]) / [w_scale, h_scale, w_scale, h_scale]``.
Resizes compose them (a KeepRatioResize followed by a LetterResize records the product of the
scales and the padding). ``RandomAffine`` and the mixing transforms of
:mod:`.mix_img_transforms` (training only) drop both records.
"""
import math
from typing import Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from cissreg.registry import TRANSFORMS

_GT_KEYS = ('gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags', 'gt_segments')
_INTERPOLATIONS = dict(linear=cv2.INTER_LINEAR, area=cv2.INTER_AREA, nearest=cv2.INTER_NEAREST,
                       cubic=cv2.INTER_CUBIC)


def _pair(scale: Union[int, Sequence[int]]) -> Tuple[int, int]:
    return (int(scale), int(scale)) if isinstance(scale, (int, float)) else \
        (int(scale[0]), int(scale[1]))


def _keep(results: dict, keep: np.ndarray) -> None:
    """Index the ground-truth arrays together."""
    for key in _GT_KEYS:
        if key in results:
            results[key] = results[key][keep]


def _affine_boxes(results: dict, sx: float, sy: float, dx: float = 0.0,
                  dy: float = 0.0) -> None:
    """``box * [sx, sy, sx, sy] + [dx, dy, dx, dy]`` on ``gt_bboxes`` and ``xy * [sx, sy] +
    [dx, dy]`` on the points of ``gt_segments`` (each if present)."""
    if 'gt_bboxes' in results:
        boxes = results['gt_bboxes'].astype(np.float32)
        results['gt_bboxes'] = (boxes * np.array([sx, sy, sx, sy], np.float32) +
                                np.array([dx, dy, dx, dy], np.float32)).astype(np.float32)
    if 'gt_segments' in results:
        results['gt_segments'] = (results['gt_segments'] * np.array([sx, sy], np.float32) +
                                  np.array([dx, dy], np.float32)).astype(np.float32)


def _record_resize(results: dict, sx: float, sy: float) -> None:
    """Compose a resize by (sx, sy) into ``scale_factor`` and an earlier ``pad_param``."""
    prev = results.get('scale_factor', (1.0, 1.0))
    results['scale_factor'] = (float(prev[0]) * sx, float(prev[1]) * sy)
    if 'pad_param' in results:
        results['pad_param'] = (np.asarray(results['pad_param'], np.float32) *
                                np.array([sy, sy, sx, sx], np.float32))


@TRANSFORMS.register_module()
class KeepRatioResize(BaseTransform):
    """Resize so the image fits in ``scale`` keeping its aspect ratio.

    Same sizes as ultralytics' ``load_image``: ``r = min(W / w, H / h)`` and the new size
    ``(min(ceil(w * r), W), min(ceil(h * r), H))``.

    Args:
        scale (int | tuple[int, int]): Target (w, h); an int means square.
        allow_scale_up (bool): Enlarge images smaller than ``scale``. Defaults to True.
        interpolation (str): ``'linear'`` (ultralytics), ``'area'``, ``'nearest'`` or
            ``'cubic'``. Defaults to ``'linear'``.

    Modified keys: ``img``, ``img_shape``, ``gt_bboxes``, ``scale_factor``, ``pad_param``.
    """

    def __init__(self, scale: Union[int, Tuple[int, int]], allow_scale_up: bool = True,
                 interpolation: str = 'linear') -> None:
        self.scale = _pair(scale)
        self.allow_scale_up = allow_scale_up
        self.interpolation = _INTERPOLATIONS[interpolation]

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        r = min(self.scale[0] / w, self.scale[1] / h)
        if not self.allow_scale_up:
            r = min(r, 1.0)
        new_w, new_h = min(math.ceil(w * r), self.scale[0]), min(math.ceil(h * r), self.scale[1])
        if (new_w, new_h) != (w, h):
            img = cv2.resize(img, (new_w, new_h), interpolation=self.interpolation)
        sx, sy = new_w / w, new_h / h
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        _affine_boxes(results, sx, sy)
        _record_resize(results, sx, sy)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(scale={self.scale}, allow_scale_up={self.allow_scale_up})'


@TRANSFORMS.register_module()
class LetterResize(BaseTransform):
    """Keep-ratio resize to fit ``scale`` and pad to exactly ``scale``, centred (letterbox).

    Matches ultralytics' ``LetterBox(auto=False, center=True)``: ``r = min(H / h, W / w)``
    (capped at 1 unless ``allow_scale_up``), resized size ``(round(w * r), round(h * r))`` with
    bilinear interpolation, padding ``top = round(dh / 2 - 0.1)``, ``bottom = round(dh / 2 +
    0.1)`` (same for left / right) filled with ``pad_val``. The recorded ``scale_factor`` is
    the exact per-axis ratio of the resized to the input size.

    Args:
        scale (int | tuple[int, int]): Output (w, h); an int means square.
        pad_val (int | float): Padding value of every channel. Defaults to 114.
        allow_scale_up (bool): Enlarge images smaller than ``scale``. Defaults to True.

    Modified keys: ``img``, ``img_shape``, ``gt_bboxes``, ``scale_factor``; added
    ``pad_param`` float32 [4] (top, bottom, left, right).
    """

    def __init__(self, scale: Union[int, Tuple[int, int]], pad_val: float = 114,
                 allow_scale_up: bool = True) -> None:
        self.scale = _pair(scale)
        self.pad_val = pad_val
        self.allow_scale_up = allow_scale_up

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        out_w, out_h = self.scale
        r = min(out_h / h, out_w / w)
        if not self.allow_scale_up:
            r = min(r, 1.0)
        new_w, new_h = int(round(w * r)), int(round(h * r))
        if (new_w, new_h) != (w, h):
            img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        dw, dh = (out_w - new_w) / 2, (out_h - new_h) / 2
        top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
        left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
        img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT,
                                 value=(self.pad_val, ) * 3)
        sx, sy = new_w / w, new_h / h
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        _affine_boxes(results, sx, sy, left, top)
        _record_resize(results, sx, sy)
        pad = np.array([top, bottom, left, right], np.float32)
        results['pad_param'] = results.get('pad_param', np.zeros(4, np.float32)) + pad
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, pad_val={self.pad_val}, '
                f'allow_scale_up={self.allow_scale_up})')


@TRANSFORMS.register_module()
class RandomFlip(BaseTransform):
    """Flip the image and boxes with probability ``prob``.

    Args:
        prob (float): Flip probability. Defaults to 0.5.
        direction (str): ``'horizontal'`` (x -> W - x) or ``'vertical'`` (y -> H - y).
            Defaults to ``'horizontal'``.

    Modified keys: ``img``, ``gt_bboxes``, ``gt_segments``; added ``flip`` (bool),
    ``flip_direction``.
    """

    def __init__(self, prob: float = 0.5, direction: str = 'horizontal') -> None:
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f"RandomFlip: direction must be 'horizontal' or 'vertical', got "
                             f'{direction!r}')
        self.prob = prob
        self.direction = direction

    def transform(self, results: dict) -> dict:
        flip = bool(np.random.rand() < self.prob)
        results['flip'] = flip
        results['flip_direction'] = self.direction if flip else None
        if not flip:
            return results
        img = results['img']
        h, w = img.shape[:2]
        horizontal = self.direction == 'horizontal'
        # cv2.flip: 0.2 ms at 640 x 640 x 3, where a copy of img[:, ::-1] takes 3.6 ms
        results['img'] = cv2.flip(img, 1 if horizontal else 0).reshape(img.shape)
        if 'gt_bboxes' in results:
            boxes = results['gt_bboxes'].copy()
            if horizontal:
                boxes[:, [0, 2]] = w - results['gt_bboxes'][:, [2, 0]]
            else:
                boxes[:, [1, 3]] = h - results['gt_bboxes'][:, [3, 1]]
            results['gt_bboxes'] = boxes
        if 'gt_segments' in results:
            segments = results['gt_segments'].copy()
            axis, size = (0, w) if horizontal else (1, h)
            segments[..., axis] = size - segments[..., axis]
            results['gt_segments'] = segments
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob}, direction={self.direction!r})'


@TRANSFORMS.register_module()
class HSVRandomAug(BaseTransform):
    """Random hue / saturation / value gains through cv2 lookup tables (ultralytics RandomHSV).

    Gains ``r = 1 + U(-1, 1) * (hue_delta, saturation_delta, value_delta)``; hue wraps modulo
    180, saturation and value are clipped to [0, 255].

    Args:
        hue_delta (float): Defaults to 0.015 (ultralytics ``hsv_h``).
        saturation_delta (float): Defaults to 0.7 (``hsv_s``).
        value_delta (float): Defaults to 0.4 (``hsv_v``).

    Modified keys: ``img`` (same shape and dtype uint8).
    """

    def __init__(self, hue_delta: float = 0.015, saturation_delta: float = 0.7,
                 value_delta: float = 0.4) -> None:
        self.gains = (hue_delta, saturation_delta, value_delta)

    def transform(self, results: dict) -> dict:
        img = results['img']
        r = np.random.uniform(-1, 1, 3) * list(self.gains) + 1
        hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))
        x = np.arange(0, 256, dtype=r.dtype)
        lut_hue = ((x * r[0]) % 180).astype(np.uint8)
        lut_sat = np.clip(x * r[1], 0, 255).astype(np.uint8)
        lut_val = np.clip(x * r[2], 0, 255).astype(np.uint8)
        hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
        results['img'] = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(gains={self.gains})'


@TRANSFORMS.register_module()
class RandomAffine(BaseTransform):
    """Random rotation / scale / shear / translation (ultralytics ``RandomPerspective``,
    without perspective).

    ``M = T @ S @ R @ C``: centre the image, rotate by ``U(-deg, deg)`` and scale by
    ``U(scaling_ratio_range)``, shear, translate the centre to ``U(0.5 - t, 0.5 + t)`` of the
    output size. The output is the input size plus ``2 * border`` (``border=(bw, bh)``; a
    ``mosaic_border`` left by :class:`Mosaic` takes precedence). Boxes map through their four
    corners (axis-aligned hull), are clipped, and are kept when width and height >
    ``min_bbox_size``, area / (original area * scale**2) > ``min_area_ratio`` and aspect ratio
    < ``max_aspect_ratio`` (ultralytics ``box_candidates``).

    With ``gt_segments`` (ultralytics' path for labels with segments): the polygon points are
    mapped instead, each box is the extent of its points clipped to the output (all-zero when
    every clipped x is 0, ultralytics ``segment2box``), the points are clipped to their box and
    to the output, and the area-ratio threshold is ``segment_min_area_ratio``.

    Args:
        max_rotate_degree (float): Defaults to 0.0 (ultralytics ``degrees``).
        max_translate_ratio (float): Defaults to 0.1 (``translate``).
        scaling_ratio_range (tuple[float, float]): Defaults to (0.5, 1.5) (``scale=0.5``).
        max_shear_degree (float): Defaults to 0.0 (``shear``).
        border (tuple[int, int]): (bw, bh) added on each side. Defaults to (0, 0).
        border_val (tuple[int, int, int]): Fill value. Defaults to (114, 114, 114).
        min_bbox_size (float): Defaults to 2.0.
        min_area_ratio (float): Defaults to 0.1.
        max_aspect_ratio (float): Defaults to 100.0.
        segment_min_area_ratio (float): ``min_area_ratio`` when segments give the boxes.
            Defaults to 0.01 (ultralytics).
    """

    def __init__(self, max_rotate_degree: float = 0.0, max_translate_ratio: float = 0.1,
                 scaling_ratio_range: Tuple[float, float] = (0.5, 1.5),
                 max_shear_degree: float = 0.0, border: Tuple[int, int] = (0, 0),
                 border_val: Tuple[int, int, int] = (114, 114, 114),
                 min_bbox_size: float = 2.0, min_area_ratio: float = 0.1,
                 max_aspect_ratio: float = 100.0, segment_min_area_ratio: float = 0.01) -> None:
        self.max_rotate_degree = max_rotate_degree
        self.max_translate_ratio = max_translate_ratio
        self.scaling_ratio_range = scaling_ratio_range
        self.max_shear_degree = max_shear_degree
        self.border = border
        self.border_val = tuple(border_val)
        self.min_bbox_size = min_bbox_size
        self.min_area_ratio = min_area_ratio
        self.max_aspect_ratio = max_aspect_ratio
        self.segment_min_area_ratio = segment_min_area_ratio

    def _matrix(self, in_w: int, in_h: int, out_w: int, out_h: int) -> Tuple[np.ndarray, float]:
        """Random 3x3 affine matrix and its scale."""
        center = np.eye(3, dtype=np.float32)
        center[0, 2], center[1, 2] = -in_w / 2, -in_h / 2
        rotate = np.eye(3, dtype=np.float32)
        angle = np.random.uniform(-self.max_rotate_degree, self.max_rotate_degree)
        scale = np.random.uniform(*self.scaling_ratio_range)
        rotate[:2] = cv2.getRotationMatrix2D(angle=angle, center=(0, 0), scale=scale)
        shear = np.eye(3, dtype=np.float32)
        shear[0, 1] = math.tan(np.random.uniform(-self.max_shear_degree,
                                                 self.max_shear_degree) * math.pi / 180)
        shear[1, 0] = math.tan(np.random.uniform(-self.max_shear_degree,
                                                 self.max_shear_degree) * math.pi / 180)
        translate = np.eye(3, dtype=np.float32)
        t = self.max_translate_ratio
        translate[0, 2] = np.random.uniform(0.5 - t, 0.5 + t) * out_w
        translate[1, 2] = np.random.uniform(0.5 - t, 0.5 + t) * out_h
        return translate @ shear @ rotate @ center, float(scale)

    def transform(self, results: dict) -> dict:
        img = results['img']
        bw, bh = results.pop('mosaic_border', self.border)
        in_h, in_w = img.shape[:2]
        out_w, out_h = in_w + 2 * bw, in_h + 2 * bh
        matrix, scale = self._matrix(in_w, in_h, out_w, out_h)
        results['img'] = cv2.warpAffine(img, matrix[:2], dsize=(out_w, out_h),
                                        borderValue=self.border_val)
        results['img_shape'] = results['img'].shape[:2]
        results.pop('scale_factor', None)
        results.pop('pad_param', None)
        if 'gt_bboxes' not in results or not len(results['gt_bboxes']):
            return results
        boxes = results['gt_bboxes']
        segments = results.get('gt_segments')
        if segments is not None and len(segments):
            new, results['gt_segments'] = self._map_segments(segments, matrix, out_w, out_h)
            min_area_ratio = self.segment_min_area_ratio
        else:
            corners = boxes[:, [0, 1, 2, 1, 2, 3, 0, 3]].reshape(-1, 2)  # 4 corners per box
            corners = np.concatenate([corners, np.ones((len(corners), 1), np.float32)], 1)
            corners = (corners @ matrix.T)[:, :2].reshape(-1, 8)
            new = np.stack([corners[:, 0::2].min(1), corners[:, 1::2].min(1),
                            corners[:, 0::2].max(1), corners[:, 1::2].max(1)], 1)
            min_area_ratio = self.min_area_ratio
        new[:, 0::2] = new[:, 0::2].clip(0, out_w)
        new[:, 1::2] = new[:, 1::2].clip(0, out_h)
        w1, h1 = (boxes[:, 2] - boxes[:, 0]) * scale, (boxes[:, 3] - boxes[:, 1]) * scale
        w2, h2 = new[:, 2] - new[:, 0], new[:, 3] - new[:, 1]
        aspect = np.maximum(w2 / (h2 + 1e-16), h2 / (w2 + 1e-16))
        keep = ((w2 > self.min_bbox_size) & (h2 > self.min_bbox_size) &
                (w2 * h2 / (w1 * h1 + 1e-16) > min_area_ratio) &
                (aspect < self.max_aspect_ratio))
        results['gt_bboxes'] = new.astype(np.float32)
        _keep(results, keep)
        return results

    @staticmethod
    def _map_segments(segments: np.ndarray, matrix: np.ndarray, out_w: int,
                      out_h: int) -> Tuple[np.ndarray, np.ndarray]:
        """Boxes [N, 4] and points [N, P, 2] of mapped segments (ultralytics
        ``apply_segments`` followed by ``Instances.clip``)."""
        xy = np.ones((segments.shape[0] * segments.shape[1], 3), np.float32)
        xy[:, :2] = segments.reshape(-1, 2)
        xy = (xy @ matrix.T)[:, :2].reshape(segments.shape).astype(np.float32)
        x, y = xy[..., 0].clip(0, out_w), xy[..., 1].clip(0, out_h)
        boxes = np.stack([x.min(1), y.min(1), x.max(1), y.max(1)], 1)
        boxes[~(x != 0).any(1)] = 0  # ultralytics segment2box: `if any(x) else zeros`
        xy[..., 0] = xy[..., 0].clip(boxes[:, 0:1], boxes[:, 2:3]).clip(0, out_w)
        xy[..., 1] = xy[..., 1].clip(boxes[:, 1:2], boxes[:, 3:4]).clip(0, out_h)
        return boxes, xy

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_rotate_degree={self.max_rotate_degree}, '
                f'max_translate_ratio={self.max_translate_ratio}, '
                f'scaling_ratio_range={self.scaling_ratio_range}, border={self.border})')
