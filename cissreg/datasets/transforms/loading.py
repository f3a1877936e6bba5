"""Loading transforms: image file -> ``img``; ``instances`` -> ``gt_*`` arrays."""
import os
from collections import OrderedDict
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from cissreg.registry import TRANSFORMS

from .transforms import _affine_boxes


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Read ``results['img_path']`` as a 3-channel uint8 BGR image (EXIF orientation applied).

    Unlike mmcv's transform of the same name, a missing file or one OpenCV cannot decode raises
    an error naming the file (and the image id) instead of failing later on ``None``.

    Optional RAM cache: with ``cache_size > 0`` the recently decoded images of this process
    are kept (least recently used dropped first when an insert makes them more than the
    inserting loader's ``cache_size``) and a cached file (same path, size and modification
    time) is not decoded again; the pipeline gets a copy. The cache is one per process,
    shared by every ``LoadImageFromFile`` with ``cache_size > 0``
    (the main pipeline's and those inside ``MixUp`` / ``Mosaic`` pre-transforms), as
    ultralytics' buffer of recently loaded images is shared by its loader and its mixing
    transforms. ``cache_size`` >= the number of images with ``persistent_workers=True`` keeps
    the whole set in RAM like ultralytics' ``cache='ram'`` (one copy per worker process,
    decoded at first use).

    Args:
        cache_size (int): Number of decoded images kept. Defaults to 0 (no cache).

    Added keys: ``img`` (uint8 [H, W, 3] BGR), ``img_shape`` and ``ori_shape`` ((H, W)).
    """

    _cache: OrderedDict = OrderedDict()  # (path, size, mtime) -> decoded image, per process

    def __init__(self, cache_size: int = 0) -> None:
        self.cache_size = int(cache_size)

    def _decode(self, results: dict) -> np.ndarray:
        path = results['img_path']
        try:
            buffer = np.fromfile(path, dtype=np.uint8)
        except FileNotFoundError:
            raise FileNotFoundError(f"LoadImageFromFile: image file '{path}' not found "
                                    f"(img_id={results.get('img_id')})") from None
        except OSError as err:
            raise OSError(f"LoadImageFromFile: cannot read image '{path}' "
                          f"(img_id={results.get('img_id')}): {err}") from err
        img: Optional[np.ndarray] = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size \
            else None
        if img is None:
            raise ValueError(f"LoadImageFromFile: cannot decode image '{path}' "
                             f"(img_id={results.get('img_id')}, {buffer.size} bytes): the file "
                             'is empty, truncated or not an image format OpenCV reads')
        return img

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        cache, key = LoadImageFromFile._cache, None
        if self.cache_size > 0:
            try:
                stat = os.stat(path)
                key = (path, stat.st_size, stat.st_mtime_ns)
            except OSError:
                key = None  # _decode names the file
        if key is not None and key in cache:
            cache.move_to_end(key)
            img = cache[key].copy()
        else:
            img = self._decode(results)
            if key is not None:
                cache[key] = img.copy()
                while len(cache) > self.cache_size:
                    cache.popitem(last=False)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(cache_size={self.cache_size})'


def resample_polygon(polygon: np.ndarray, num_points: int) -> np.ndarray:
    """A closed polygon resampled to ``num_points`` points evenly spaced in vertex index.

    ultralytics' ``resample_segments``: the first vertex is appended to close the ring and
    each coordinate is linearly interpolated at ``linspace(0, K, num_points)``.

    Args:
        polygon (np.ndarray): [K, 2] vertices (K >= 1).
        num_points (int): Number of output points.

    Returns:
        np.ndarray: float32 [num_points, 2].
    """
    ring = np.concatenate([polygon, polygon[:1]], axis=0)
    t = np.linspace(0, len(ring) - 1, num_points)
    index = np.arange(len(ring))
    return np.stack([np.interp(t, index, ring[:, 0]), np.interp(t, index, ring[:, 1])],
                    axis=1).astype(np.float32)


@TRANSFORMS.register_module()
class LoadDetAnnotations(BaseTransform):
    """Turn the dataset's ``instances`` into box / label / ignore (/ segment) arrays.

    Args:
        with_segments (bool): Also load ``gt_segments`` from the instances' polygon
            ``segmentation`` (COCO json, YOLO segment labels), so that the training
            transforms take boxes from polygons after a rotation / shear / scale, copy-paste
            can cut instances out, as ultralytics trains on labels with segments (its COCO
            detection labels have them). An instance with several polygons gets them
            concatenated in order (ultralytics joins them by shortest bridges first:
            the points differ, the extent does not); one without polygon (a crowd RLE, a
            box-only label) gets its box's four corners. Defaults to False.
        num_segment_points (int): P, the points every polygon is resampled to (ultralytics
            ``resample_segments``). Defaults to 1000 (ultralytics).

    Added keys:
        gt_bboxes (np.ndarray): float32 [N, 4] xyxy pixels.
        gt_bboxes_labels (np.ndarray): int64 [N].
        gt_ignore_flags (np.ndarray): bool [N]; ignored boxes (VOC ``difficult``, COCO
            ``iscrowd``) travel through the geometric transforms and are dropped from the
            training targets by ``PackDetInputs``.
        gt_segments (np.ndarray): float32 [N, P, 2] xy pixels (``with_segments`` only).

    ``instances`` itself is left untouched (original-image coordinates, for the metric).
    Placed after a resize / letterbox (mmyolo's validation order), the boxes are mapped into
    the current image with the recorded ``scale_factor`` and ``pad_param``; geometric
    augmentations (flip, mosaic, affine) are not replayed: load the boxes before them.
    """

    def __init__(self, with_segments: bool = False, num_segment_points: int = 1000) -> None:
        if int(num_segment_points) < 4:
            raise ValueError('LoadDetAnnotations: num_segment_points must be >= 4, got '
                             f'{num_segment_points}')
        self.with_segments = with_segments
        self.num_segment_points = int(num_segment_points)

    def _segments(self, instances: list, boxes: np.ndarray, results: dict) -> np.ndarray:
        out = np.empty((len(instances), self.num_segment_points, 2), np.float32)
        for i, (inst, box) in enumerate(zip(instances, boxes)):
            polygons = inst.get('segmentation') or [box[[0, 1, 2, 1, 2, 3, 0, 3]]]
            try:
                points = np.concatenate([np.asarray(p, np.float64).reshape(-1, 2)
                                         for p in polygons])
            except (TypeError, ValueError):
                raise ValueError(f"LoadDetAnnotations: instance {i} of image "
                                 f"{results.get('img_path')} has a `segmentation` that is "
                                 'not a list of flat [x1, y1, x2, y2, ...] polygons') from None
            out[i] = resample_polygon(points, self.num_segment_points)
        return out

    def transform(self, results: dict) -> dict:
        instances = results.get('instances', [])
        boxes = np.array([i['bbox'] for i in instances], dtype=np.float32).reshape(-1, 4)
        results['gt_bboxes'] = boxes
        results['gt_bboxes_labels'] = np.array([i['bbox_label'] for i in instances],
                                               dtype=np.int64)
        results['gt_ignore_flags'] = np.array([bool(i.get('ignore_flag', 0)) for i in instances],
                                              dtype=bool)
        if self.with_segments:
            results['gt_segments'] = self._segments(instances, boxes, results)
        sx, sy = results.get('scale_factor', (1.0, 1.0))
        top, _, left, _ = results.get('pad_param', np.zeros(4, np.float32))
        _affine_boxes(results, sx, sy, left, top)  # into the current (resized) image
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(with_segments={self.with_segments}, '
                f'num_segment_points={self.num_segment_points})')
