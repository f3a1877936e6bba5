"""Loading transforms: image file -> ``img``; ``instances`` -> ``gt_*`` arrays."""
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from cissreg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Read ``results['img_path']`` as a 3-channel uint8 BGR image (EXIF orientation applied).

    Unlike mmcv's transform of the same name, a missing file or one OpenCV cannot decode raises
    an error naming the file (and the image id) instead of failing later on ``None``.

    Added keys: ``img`` (uint8 [H, W, 3] BGR), ``img_shape`` and ``ori_shape`` ((H, W)).
    """

    def transform(self, results: dict) -> dict:
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
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class LoadDetAnnotations(BaseTransform):
    """Turn the dataset's ``instances`` into box / label / ignore arrays.

    Added keys:
        gt_bboxes (np.ndarray): float32 [N, 4] xyxy pixels.
        gt_bboxes_labels (np.ndarray): int64 [N].
        gt_ignore_flags (np.ndarray): bool [N]; ignored boxes (VOC ``difficult``, COCO
            ``iscrowd``) travel through the geometric transforms and are dropped from the
            training targets by ``PackDetInputs``.

    ``instances`` itself is left untouched (original-image coordinates, for the metric).
    Placed after a resize / letterbox (mmyolo's validation order), the boxes are mapped into
    the current image with the recorded ``scale_factor`` and ``pad_param``; geometric
    augmentations (flip, mosaic, affine) are not replayed: load the boxes before them.
    """

    def transform(self, results: dict) -> dict:
        instances = results.get('instances', [])
        boxes = np.array([i['bbox'] for i in instances], dtype=np.float32).reshape(-1, 4)
        sx, sy = results.get('scale_factor', (1.0, 1.0))
        top, _, left, _ = results.get('pad_param', np.zeros(4, np.float32))
        results['gt_bboxes'] = (boxes * np.array([sx, sy, sx, sy], np.float32) +
                                np.array([left, top, left, top], np.float32)).astype(np.float32)
        results['gt_bboxes_labels'] = np.array([i['bbox_label'] for i in instances],
                                               dtype=np.int64)
        results['gt_ignore_flags'] = np.array([bool(i.get('ignore_flag', 0)) for i in instances],
                                              dtype=bool)
        return results
