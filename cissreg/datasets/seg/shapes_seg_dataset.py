"""Procedural shapes with pixel masks on textured backgrounds: the CISS embedded default.

Generated once, deterministically from ``seed``, and written in the VOC segmentation layout
(``JPEGImages/*.png``, ``SegmentationClassAug/*.png``, ``ImageSets/Segmentation/
{train_aug,val}.txt``), so :class:`VOCSegDataset` reads it. Each image holds 1-3 filled
shapes of 6 classes (label = class index + 1) whose hue is class-typical with jitter, on a
smooth-noise texture; later shapes cover earlier ones. A manifest records the parameters;
another call with different parameters on the same folder raises instead of mixing data.
Generation writes to a temporary sibling folder that is renamed into place.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Tuple

import cv2
import numpy as np

from cissreg.registry import DATASETS

from .voc_seg_dataset import VOCSegDataset

SHAPE_SEG_CLASSES = ('circle', 'square', 'triangle', 'diamond', 'cross', 'ring')
_HUES = (0, 30, 60, 90, 120, 150)  # OpenCV hue (0-180) typical of each class
MANIFEST = 'shapes_seg_manifest.json'


def _draw(mask: np.ndarray, cls: int, cx: int, cy: int, r: int) -> None:
    """Fill shape ``cls`` (0-5) of radius ``r`` at ``(cx, cy)`` with 1 in ``mask``."""
    if cls == 0:
        cv2.circle(mask, (cx, cy), r, 1, -1)
    elif cls == 1:
        cv2.rectangle(mask, (cx - r, cy - r), (cx + r, cy + r), 1, -1)
    elif cls == 2:
        pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
        cv2.fillPoly(mask, [pts], 1)
    elif cls == 3:
        pts = np.array([[cx, cy - r], [cx + r, cy], [cx, cy + r], [cx - r, cy]], np.int32)
        cv2.fillPoly(mask, [pts], 1)
    elif cls == 4:
        t = max(r // 3, 2)
        cv2.rectangle(mask, (cx - r, cy - t), (cx + r, cy + t), 1, -1)
        cv2.rectangle(mask, (cx - t, cy - r), (cx + t, cy + r), 1, -1)
    else:
        cv2.circle(mask, (cx, cy), r, 1, -1)
        cv2.circle(mask, (cx, cy), max(r // 2, 2), 0, -1)


def make_shapes_image(rng: np.random.Generator, size: int) -> Tuple[np.ndarray, np.ndarray]:
    """One image (``[size, size, 3]`` uint8 BGR) and its label map (``[size, size]`` uint8)."""
    low = rng.normal(0, 1, (6, 6, 3)).astype(np.float32)
    field = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC) * 25
    img = np.clip(field + rng.uniform(70, 170, 3).astype(np.float32), 0, 255)
    label = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        cls = int(rng.integers(len(SHAPE_SEG_CLASSES)))
        r = int(rng.integers(size // 9, size // 4))
        cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
        mask = np.zeros((size, size), np.uint8)
        _draw(mask, cls, cx, cy, r)
        hsv = np.uint8([[[(_HUES[cls] + rng.integers(-8, 9)) % 180, rng.integers(150, 256),
                          rng.integers(150, 256)]]])
        colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
        img[mask > 0] = colour
        label[mask > 0] = cls + 1
    img = np.clip(img + rng.uniform(-8, 8, img.shape), 0, 255).astype(np.uint8)
    return img, label


def generate_shapes_seg(data_root: str, num_train: int, num_val: int, img_size: int,
                        seed: int) -> None:
    """Write the dataset under ``data_root`` unless the same one is there already.

    Raises:
        ValueError: ``data_root`` holds shapes data made with other parameters.
    """
    params = dict(version=1, num_train=num_train, num_val=num_val, img_size=img_size, seed=seed)
    manifest = osp.join(data_root, MANIFEST)
    if osp.exists(manifest):
        with open(manifest, encoding='utf-8') as f:
            found = json.load(f)
        if found != params:
            diff = {k: (found.get(k), v) for k, v in params.items() if found.get(k) != v}
            raise ValueError(f'{data_root} holds shapes segmentation data made with other '
                             f'parameters (found, wanted): {diff}; use another data_root')
        return
    parent = osp.dirname(osp.abspath(data_root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.shapes_seg_', dir=parent)
    for sub in ('JPEGImages', 'SegmentationClassAug', osp.join('ImageSets', 'Segmentation')):
        os.makedirs(osp.join(tmp, sub))
    rng = np.random.default_rng(seed)
    for split, count in (('train_aug', num_train), ('val', num_val)):
        ids = [f'{split}_{i:06d}' for i in range(count)]
        for img_id in ids:
            img, label = make_shapes_image(rng, img_size)
            cv2.imwrite(osp.join(tmp, 'JPEGImages', img_id + '.png'), img)
            cv2.imwrite(osp.join(tmp, 'SegmentationClassAug', img_id + '.png'), label)
        with open(osp.join(tmp, 'ImageSets', 'Segmentation', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(ids) + '\n')
    with open(osp.join(tmp, MANIFEST), 'w', encoding='utf-8') as f:
        json.dump(params, f)
    try:
        os.rename(tmp, data_root)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
        if not osp.exists(manifest):
            raise


@DATASETS.register_module()
class ShapesSegDataset(VOCSegDataset):
    """:class:`VOCSegDataset` over procedural shapes generated on first use.

    Args:
        data_root (str): Where the data is (or is written).
        split (str): ``'train_aug'`` or ``'val'``.
        num_train (int): Training images. Defaults to 600.
        num_val (int): Validation images. Defaults to 150.
        img_size (int): Side in pixels. Defaults to 64.
        seed (int): Generator seed. Defaults to 0.
    """

    METAINFO = dict(classes=SHAPE_SEG_CLASSES)

    def __init__(self, data_root: str, split: str = 'train_aug', num_train: int = 600,
                 num_val: int = 150, img_size: int = 64, seed: int = 0, **kwargs) -> None:
        generate_shapes_seg(data_root, num_train, num_val, img_size, seed)
        super().__init__(data_root=data_root, split=split, img_suffix='.png', **kwargs)
