"""(image1, mask1, image2, mask2, caption) pairs of the same object in two scenes.

The embedded default is procedural: each pair is two scenes of coloured shapes on a noisy
background that both contain the target (same colour and shape, another place and size)
among distractors sharing its colour or its shape. It is written once under ``data_root``
in a COCO-style json with RLE masks, plus the word-level tokenizer of its vocabulary::

    data_root/
      images/{split}_{scene:06d}.png
      {split}.json        images, annotations (RLE, caption), categories, pairs, info
      tokenizer/          a transformers tokenizer folder (word level)

The same json layout, written by a user for real data, loads with ``generate=False``.
"""
import json
import os
import os.path as osp
import tempfile
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
from mmengine.dataset import BaseDataset

from cissreg.registry import DATASETS
from cissreg.utils.rle import rle_area, rle_encode
from cissreg.utils.word_tokenizer import build_word_tokenizer

from . import region_pair_transforms  # noqa: F401  (registers the pipeline transforms)

COLORS = {'red': (220, 40, 40), 'green': (40, 170, 60), 'blue': (50, 80, 220),
          'yellow': (225, 205, 40)}
SHAPES = ('circle', 'square', 'triangle')
PROMPT_WORDS = ('the', 'describe', 'this', 'region', 'please', 'segment')


def region_pair_vocabulary(colors: Sequence[str] = tuple(COLORS),
                           shapes: Sequence[str] = SHAPES) -> List[str]:
    """Every word of the procedural captions and the MLLM instructions."""
    return list(PROMPT_WORDS) + list(colors) + list(shapes)


def _draw(shape: str, size: int, center: Tuple[int, int], img_size: int) -> np.ndarray:
    mask = np.zeros((img_size, img_size), np.uint8)
    cx, cy, r = center[0], center[1], size // 2
    if shape == 'circle':
        cv2.circle(mask, (cx, cy), r, 1, -1)
    elif shape == 'square':
        cv2.rectangle(mask, (cx - r, cy - r), (cx + r, cy + r), 1, -1)
    else:
        pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
        cv2.fillPoly(mask, [pts], 1)
    return mask


def _scene(rng: np.random.Generator, objects: List[Tuple[str, str]], img_size: int,
           size_range: Tuple[float, float]) -> Tuple[np.ndarray, List[np.ndarray]]:
    """Draw non-overlapping objects; returns the RGB image and one mask per object."""
    img = np.full((img_size, img_size, 3), rng.integers(90, 170, 3), np.float32)
    img += rng.normal(0, 12, img.shape)
    masks, taken = [], np.zeros((img_size, img_size), bool)
    for color, shape in objects:
        for _ in range(50):
            size = int(rng.uniform(*size_range) * img_size)
            c = rng.integers(size // 2 + 1, img_size - size // 2 - 1, 2)
            mask = _draw(shape, size, (int(c[0]), int(c[1])), img_size)
            grown = cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool)
            if not (grown & taken).any():
                break
        taken |= mask.astype(bool)
        rgb = np.array(COLORS[color], np.float32) + rng.normal(0, 12, 3)
        img[mask.astype(bool)] = rgb
        masks.append(mask)
    return np.clip(img, 0, 255).astype(np.uint8), masks


def generate_region_pairs(data_root: str, split: str, num_pairs: int, img_size: int = 64,
                          num_distractors: Tuple[int, int] = (1, 2),
                          size_range: Tuple[float, float] = (0.22, 0.38),
                          seed: int = 0) -> str:
    """Write ``num_pairs`` procedural pairs of ``split``; returns the json path."""
    rng = np.random.default_rng([seed, {'train': 0, 'val': 1, 'test': 2}.get(split, 3)])
    combos = [(c, s) for c in COLORS for s in SHAPES]
    categories = [dict(id=i + 1, name=f'{c} {s}') for i, (c, s) in enumerate(combos)]
    os.makedirs(osp.join(data_root, 'images'), exist_ok=True)
    images, annotations, pairs = [], [], []
    for p in range(num_pairs):
        target = combos[rng.integers(len(combos))]
        hard = [c for c in combos if c != target and (c[0] == target[0] or c[1] == target[1])]
        ann_ids = []
        for _ in range(2):
            k = int(rng.integers(num_distractors[0], num_distractors[1] + 1))
            others = [hard[i] for i in rng.choice(len(hard), k, replace=False)]
            objects = [target] + others
            img, masks = _scene(rng, objects, img_size, size_range)
            image_id = len(images) + 1
            name = f'{split}_{image_id:06d}.png'
            cv2.imwrite(osp.join(data_root, 'images', name), img[..., ::-1])
            images.append(dict(id=image_id, file_name=name, height=img_size, width=img_size))
            for (color, shape), mask in zip(objects, masks):
                rle = rle_encode(mask)
                ys, xs = np.nonzero(mask)
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=image_id, iscrowd=0,
                    category_id=combos.index((color, shape)) + 1, segmentation=rle,
                    area=rle_area(rle), caption=f'the {color} {shape}',
                    bbox=[int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1,
                          int(np.ptp(ys)) + 1]))
            ann_ids.append(annotations[-len(objects)]['id'])
        pairs.append(dict(id=p + 1, ann1=ann_ids[0], ann2=ann_ids[1],
                          caption=f'the {target[0]} {target[1]}'))
    info = dict(generator='cissreg.region_pairs', version=1, split=split, num_pairs=num_pairs,
                img_size=img_size, seed=seed, num_distractors=list(num_distractors),
                size_range=list(size_range))
    path = osp.join(data_root, f'{split}.json')
    fd, tmp = tempfile.mkstemp(dir=data_root, suffix='.json.tmp')
    with os.fdopen(fd, 'w') as f:
        json.dump(dict(info=info, images=images, annotations=annotations,
                       categories=categories, pairs=pairs), f)
    os.replace(tmp, path)
    return path


@DATASETS.register_module()
class RegionPairDataset(BaseDataset):
    """Pairs from a COCO-style json with a ``pairs`` list (``ann1``, ``ann2``, ``caption``).

    With ``generate=True`` (the default) a missing ``{split}.json`` is generated first (see
    the module docstring), and so is the ``tokenizer`` folder; an existing json made with
    other generator parameters raises, naming them.

    Args:
        data_root (str): Dataset folder.
        split (str): ``'train'`` or ``'val'`` (``{split}.json``). Defaults to ``'train'``.
        pipeline (list[dict]): Transforms (``LoadRegionPair`` ...).
        generate (bool): Generate procedural data when missing. Defaults to True.
        num_pairs (int): Pairs to generate. Defaults to 400.
        img_size (int): Generated image side. Defaults to 64.
        seed (int): Generator seed. Defaults to 0.
        **kwargs: ``BaseDataset`` arguments (``test_mode``, ``indices``, ...).
    """

    def __init__(self, data_root: str, split: str = 'train', pipeline: Sequence = (),
                 generate: bool = True, num_pairs: int = 400, img_size: int = 64,
                 seed: int = 0, **kwargs) -> None:
        self.split = split
        ann_file = osp.join(data_root, f'{split}.json')
        if generate:
            params = dict(num_pairs=num_pairs, img_size=img_size, seed=seed)
            if not osp.isfile(ann_file):
                generate_region_pairs(data_root, split, **params)
            else:
                with open(ann_file) as f:
                    info = json.load(f).get('info', {})
                diff = {k: (info.get(k), v) for k, v in params.items() if info.get(k) != v}
                if diff:
                    raise ValueError(f'{ann_file} was generated with other parameters '
                                     f'(on disk, requested): {diff}; delete it or set data_root')
            tok_dir = osp.join(data_root, 'tokenizer')
            if not osp.isfile(osp.join(tok_dir, 'tokenizer_config.json')):
                build_word_tokenizer(region_pair_vocabulary(), save_dir=tok_dir)
        elif not osp.isfile(ann_file):
            raise FileNotFoundError(f'annotation file {ann_file!r} (data_root + split) not found')
        super().__init__(ann_file=f'{split}.json', data_root=data_root, pipeline=list(pipeline),
                         **kwargs)

    def load_data_list(self) -> List[Dict]:
        """One dict per pair: image paths, segmentations, caption."""
        with open(self.ann_file) as f:
            coco = json.load(f)
        images = {im['id']: im for im in coco['images']}
        anns = {a['id']: a for a in coco['annotations']}
        img_dir = osp.join(self.data_root, 'images')
        data = []
        for pair in coco['pairs']:
            a1, a2 = anns[pair['ann1']], anns[pair['ann2']]
            data.append(dict(
                sample_id=pair['id'], caption=pair['caption'],
                img1_path=osp.join(img_dir, images[a1['image_id']]['file_name']),
                img2_path=osp.join(img_dir, images[a2['image_id']]['file_name']),
                segm1=a1['segmentation'], segm2=a2['segmentation']))
        return data
