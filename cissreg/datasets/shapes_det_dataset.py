"""Procedural coloured shapes on textured backgrounds: cissreg's embedded detection default.

The images are generated once, deterministically from ``seed``, and written under
``data_root`` in the Pascal VOC layout, so the same :class:`VOCDetDataset` loader reads them
(and MAR20-style configs and shapes configs share it)::

    data_root/
      JPEGImages/train_000000.jpg ...   (or .png)
      Annotations/train_000000.xml ...
      ImageSets/Main/train.txt, val.txt
      shapes_manifest.json              (generator version + parameters)

Generation writes to a temporary sibling folder and renames it into place, so a concurrent or
killed first run never leaves a half dataset. A later run with other parameters finds the
manifest different and raises, naming the differing parameters, instead of silently reusing
the old images.

Each image: a low-saturation texture (smooth noise, linear gradient or sinusoidal stripes, plus
uniform pixel noise of +-8) and 1-6 solid, saturated shapes of 6 classes with sizes 16-96 px
(long side) and aspect ratios 0.8-1.25, not rotated (a rotated square would be a diamond).
Shapes may overlap, but every earlier shape keeps at least 75 % of its pixels visible; boxes
are tight around the *visible* pixels of each shape.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log

from cissreg.registry import DATASETS

from .voc_det_dataset import VOCDetDataset

SHAPE_CLASSES = ('circle', 'square', 'triangle', 'diamond', 'cross', 'ring')
GENERATOR_VERSION = 1
MANIFEST = 'shapes_manifest.json'
_MIN_VISIBLE = 0.75
_PLACEMENT_TRIES = 30
_SPLITS = ('train', 'val')


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A low-contrast, low-saturation background. Returns float32 [size, size, 3] BGR."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(0, 60), rng.uniform(70, 190)]]],
                   dtype=np.float32)
    base = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)[0, 0]
    coords = np.arange(size, dtype=np.float32) / size
    angle = rng.uniform(0, np.pi)
    along = coords[None, :] * np.float32(np.cos(angle)) + coords[:, None] * np.float32(
        np.sin(angle))
    kind = rng.integers(3)
    if kind == 0:  # smooth noise
        grid = int(rng.integers(4, 17))
        low = rng.normal(0, 1, (grid, grid)).astype(np.float32)
        field = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC) * 16
        img = base + field[..., None]
    elif kind == 1:  # gradient towards a second dull colour
        hsv2 = np.array([[[rng.uniform(0, 180), rng.uniform(0, 60), rng.uniform(70, 190)]]],
                        dtype=np.float32)
        other = cv2.cvtColor(hsv2.astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)[0, 0]
        t = (along - along.min()) / np.float32(max(float(along.max() - along.min()), 1e-6))
        img = base + (other - base) * t[..., None]
    else:  # stripes
        period = rng.uniform(6, 24) / size
        field = np.sin(np.float32(2 * np.pi / period) * along) * np.float32(rng.uniform(8, 20))
        img = base + field[..., None]
    noise = np.frombuffer(rng.bytes(size * size * 3), np.uint8).reshape(size, size, 3)
    img += noise.astype(np.float32) * np.float32(16 / 255) - np.float32(8)  # uniform +-8
    return img


def _shape_mask(kind: int, w: int, h: int) -> np.ndarray:
    """Filled mask of one shape in its own (h, w) frame. Returns bool [h, w]."""
    mask = np.zeros((h, w), np.uint8)
    s = 16  # sub-pixel precision of cv2's ``shift=4``
    cx, cy, rx, ry = (w - 1) / 2, (h - 1) / 2, (w - 1) / 2, (h - 1) / 2

    def poly(points: Sequence[Tuple[float, float]]) -> None:
        pts = np.round(np.array(points) * s).astype(np.int32)[None]
        cv2.fillPoly(mask, pts, 255, cv2.LINE_8, 4)

    def ellipse(scale: float, value: int) -> None:
        cv2.ellipse(mask, (round(cx * s), round(cy * s)),
                    (round(rx * scale * s), round(ry * scale * s)), 0, 0, 360, value, -1,
                    cv2.LINE_8, 4)

    name = SHAPE_CLASSES[kind]
    if name == 'circle':
        ellipse(1.0, 255)
    elif name == 'square':
        mask[:] = 255
    elif name == 'triangle':
        poly([(cx, 0), (w - 1, h - 1), (0, h - 1)])
    elif name == 'diamond':
        poly([(cx, 0), (w - 1, cy), (cx, h - 1), (0, cy)])
    elif name == 'cross':
        tw, th = max(round(0.34 * w), 3), max(round(0.34 * h), 3)
        mask[:, (w - tw) // 2:(w - tw) // 2 + tw] = 255
        mask[(h - th) // 2:(h - th) // 2 + th, :] = 255
    else:  # ring
        ellipse(1.0, 255)
        ellipse(0.55, 0)
    return mask > 0


def _colour(rng: np.random.Generator, avoid: List[float]) -> Tuple[Tuple[int, int, int], float]:
    """A saturated BGR colour whose hue differs from the hues in ``avoid`` by >= 25 (of 180)."""
    for _ in range(20):
        hue = rng.uniform(0, 180)
        if all(min(abs(hue - a), 180 - abs(hue - a)) >= 25 for a in avoid):
            break
    hsv = np.array([[[hue, rng.uniform(190, 255), rng.uniform(170, 255)]]], np.float32)
    bgr = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0]
    return (int(bgr[0]), int(bgr[1]), int(bgr[2])), hue


def render_shapes_image(rng: np.random.Generator, img_size: int = 256,
                        num_objects: Tuple[int, int] = (1, 6),
                        object_size: Tuple[int, int] = (16, 96)
                        ) -> Tuple[np.ndarray, List[dict]]:
    """Draw one image of shapes.

    Args:
        rng (np.random.Generator): Source of randomness (the image is a function of it).
        img_size (int): Width and height in pixels. Defaults to 256.
        num_objects (tuple[int, int]): Inclusive range of the number of shapes tried.
        object_size (tuple[int, int]): Inclusive range of a shape's long side in pixels.

    Returns:
        tuple: ``img`` uint8 [img_size, img_size, 3] BGR, and per drawn shape
        ``dict(label=int, bbox=[x1, y1, x2, y2] (continuous pixels, tight around the visible
        pixels), mask=bool [img_size, img_size] (visible pixels), colour=(b, g, r))``.
    """
    img = _texture(rng, img_size)
    placed: List[dict] = []  # full masks, visible masks and hues of drawn shapes
    for _ in range(int(rng.integers(num_objects[0], num_objects[1] + 1))):
        label = int(rng.integers(len(SHAPE_CLASSES)))
        long_side = int(rng.integers(object_size[0], object_size[1] + 1))
        aspect = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
        w, h = ((long_side, round(long_side / aspect)) if aspect >= 1 else
                (round(long_side * aspect), long_side))
        local = _shape_mask(label, w, h)
        for _ in range(_PLACEMENT_TRIES):
            x0 = int(rng.integers(0, img_size - w + 1))
            y0 = int(rng.integers(0, img_size - h + 1))
            full = np.zeros((img_size, img_size), bool)
            full[y0:y0 + h, x0:x0 + w] = local
            if all((p['visible'] & ~full).sum() >= _MIN_VISIBLE * p['area'] for p in placed):
                break
        else:
            continue
        overlapping = [p['hue'] for p in placed
                       if (p['box'][0] < x0 + w and x0 < p['box'][2] and
                           p['box'][1] < y0 + h and y0 < p['box'][3])]
        colour, hue = _colour(rng, overlapping)
        for p in placed:
            p['visible'] &= ~full
        img[full] = colour
        placed.append(dict(label=label, visible=full, area=int(full.sum()), hue=hue,
                           colour=colour, box=(x0, y0, x0 + w, y0 + h)))
    objects = []
    for p in placed:
        xs = np.flatnonzero(p['visible'].any(axis=0))
        ys = np.flatnonzero(p['visible'].any(axis=1))
        objects.append(dict(label=p['label'], mask=p['visible'], colour=p['colour'],
                            bbox=[float(xs[0]), float(ys[0]), float(xs[-1] + 1),
                                  float(ys[-1] + 1)]))
    return np.clip(img + np.float32(0.5), 0, 255).astype(np.uint8), objects


def _voc_xml(filename: str, img_size: int, objects: List[dict]) -> str:
    """VOC XML text; boxes as 1-based inclusive pixel indices (see voc_det_dataset.py)."""
    lines = ['<annotation>', '  <folder>shapes</folder>', f'  <filename>{filename}</filename>',
             f'  <size><width>{img_size}</width><height>{img_size}</height><depth>3</depth>'
             '</size>']
    for obj in objects:
        x1, y1, x2, y2 = (int(v) for v in obj['bbox'])
        lines += ['  <object>', f"    <name>{SHAPE_CLASSES[obj['label']]}</name>",
                  '    <difficult>0</difficult>',
                  f'    <bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin><xmax>{x2}</xmax>'
                  f'<ymax>{y2}</ymax></bndbox>', '  </object>']
    return '\n'.join(lines + ['</annotation>', ''])


def generate_shapes_dataset(out_dir: str, params: Dict) -> None:
    """Write a shapes dataset with ``params`` into the (existing, empty) ``out_dir``.

    Args:
        out_dir (str): Destination folder.
        params (dict): ``seed``, ``num_train``, ``num_val``, ``img_size``, ``num_objects``,
            ``object_size``, ``img_format`` (see :class:`ShapesDetDataset`).
    """
    for sub in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    encode = ([cv2.IMWRITE_JPEG_QUALITY, 95] if params['img_format'] == 'jpg' else
              [cv2.IMWRITE_PNG_COMPRESSION, 1])
    for split_code, split in enumerate(_SPLITS):
        names = []
        for i in range(params[f'num_{split}']):
            rng = np.random.default_rng([params['seed'], split_code, i])
            img, objects = render_shapes_image(rng, params['img_size'],
                                               tuple(params['num_objects']),
                                               tuple(params['object_size']))
            name = f'{split}_{i:06d}'
            filename = f"{name}.{params['img_format']}"
            if not cv2.imwrite(osp.join(out_dir, 'JPEGImages', filename), img, encode):
                raise OSError(f"cannot write '{osp.join(out_dir, 'JPEGImages', filename)}'")
            with open(osp.join(out_dir, 'Annotations', f'{name}.xml'), 'w',
                      encoding='utf-8') as f:
                f.write(_voc_xml(filename, params['img_size'], objects))
            names.append(name)
        with open(osp.join(out_dir, 'ImageSets', 'Main', f'{split}.txt'), 'w',
                  encoding='utf-8') as f:
            f.write(''.join(f'{n}\n' for n in names))
    with open(osp.join(out_dir, MANIFEST), 'w', encoding='utf-8') as f:
        json.dump(params, f, indent=2, sort_keys=True)


@DATASETS.register_module()
class ShapesDetDataset(VOCDetDataset):
    """Procedural shapes, generated under ``data_root`` on first use, read as VOC.

    Args:
        data_root (str): Where the dataset lives / is generated. Defaults to
            ``'data/shapes'``.
        ann_file (str): Split file: ``'ImageSets/Main/train.txt'`` (default) or
            ``'ImageSets/Main/val.txt'``.
        seed (int): Generation seed. Defaults to 0.
        num_train (int): Training images. Defaults to 1000.
        num_val (int): Validation images. Defaults to 200.
        img_size (int): Square image size in pixels. Defaults to 256.
        num_objects (tuple[int, int]): Inclusive range of shapes per image (a shape that finds
            no place within the overlap limit is skipped). Defaults to (1, 6).
        object_size (tuple[int, int]): Inclusive range of a shape's long side in pixels.
            Defaults to (16, 96).
        img_format (str): ``'jpg'`` (quality 95) or ``'png'``. Defaults to ``'jpg'``.
        **kwargs: :class:`VOCDetDataset` / :class:`BaseDetDataset` arguments (``classes``
            subset, ``filter_cfg``, ``pipeline``, ``test_mode``...).
    """

    METAINFO: dict = dict(classes=SHAPE_CLASSES)

    def __init__(self,
                 data_root: str = 'data/shapes',
                 ann_file: str = 'ImageSets/Main/train.txt',
                 seed: int = 0,
                 num_train: int = 1000,
                 num_val: int = 200,
                 img_size: int = 256,
                 num_objects: Tuple[int, int] = (1, 6),
                 object_size: Tuple[int, int] = (16, 96),
                 img_format: str = 'jpg',
                 **kwargs) -> None:
        if img_format not in ('jpg', 'png'):
            raise ValueError(f"ShapesDetDataset: img_format must be 'jpg' or 'png', got "
                             f'{img_format!r}')
        if not 0 <= num_objects[0] <= num_objects[1]:
            raise ValueError(f'ShapesDetDataset: num_objects must be (min, max) with '
                             f'0 <= min <= max, got {num_objects}')
        if not 4 <= object_size[0] <= object_size[1] <= img_size:
            raise ValueError(f'ShapesDetDataset: object_size must be (min, max) with '
                             f'4 <= min <= max <= img_size={img_size}, got {object_size}')
        if not data_root:
            raise ValueError('ShapesDetDataset: data_root must name the folder to generate in')
        self.generation_params = dict(
            generator_version=GENERATOR_VERSION, seed=int(seed), num_train=int(num_train),
            num_val=int(num_val), img_size=int(img_size), num_objects=list(num_objects),
            object_size=list(object_size), img_format=img_format,
            classes=list(SHAPE_CLASSES))
        super().__init__(data_root=data_root, ann_file=ann_file, img_suffix=f'.{img_format}',
                         **kwargs)

    def _check_manifest(self, root: str) -> None:
        path = osp.join(root, MANIFEST)
        if not osp.isfile(path):
            raise FileExistsError(
                f"ShapesDetDataset: data_root '{root}' (config key `data_root`) exists but is "
                f'not a generated shapes dataset (no {MANIFEST}); point data_root to a new '
                'folder')
        with open(path, encoding='utf-8') as f:
            on_disk = json.load(f)
        diff = {k: (on_disk.get(k), v) for k, v in self.generation_params.items()
                if on_disk.get(k) != v}
        if diff:
            details = ', '.join(f'{k}: {a!r} on disk vs {b!r} in the config'
                                for k, (a, b) in diff.items())
            raise ValueError(
                f"ShapesDetDataset: data_root '{root}' holds shapes generated with other "
                f'parameters ({details}); delete the folder to regenerate it or set '
                '`data_root` to another folder')

    def ensure_generated(self) -> bool:
        """Generate the dataset under ``data_root`` unless it is there already.

        Returns:
            bool: True when this call generated it.
        """
        root = osp.normpath(self.data_root)
        if osp.isdir(root) and os.listdir(root):
            self._check_manifest(root)
            return False
        parent = osp.dirname(osp.abspath(root))
        os.makedirs(parent, exist_ok=True)
        start = time.time()
        tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(osp.abspath(root))}-tmp-', dir=parent)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; publish like os.makedirs
        try:
            generate_shapes_dataset(tmp, self.generation_params)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            if osp.isdir(root) and not os.listdir(root):
                os.rmdir(root)
            os.rename(tmp, root)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not osp.isdir(root):  # a real failure, not a concurrent run that won the race
                raise
            self._check_manifest(root)
            return False
        print_log(f"ShapesDetDataset: generated {self.generation_params['num_train']} train + "
                  f"{self.generation_params['num_val']} val images in '{root}' "
                  f'({time.time() - start:.1f} s)', logger='current')
        return True

    def load_raw_data_list(self) -> List[dict]:
        """Generate on first use, then read the VOC layout."""
        self.ensure_generated()
        return super().load_raw_data_list()
