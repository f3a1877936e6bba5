"""(image1, mask1, image2, mask2, caption) pairs of the same object in two scenes.

The embedded default is a procedural referring task where the text is necessary. Every
object has four attributes: colour (red, green, blue, yellow), shape (circle, square,
triangle), size (small, large) and side (its centre in the left or right half). A pair is two
64-px scenes on a noisy background that both contain the target (same four attributes,
another exact place and size) among 2-3 distractors, each differing from the target in exactly
one attribute (a different one each). The caption names all four attributes, ``'the small red
circle on the left'``; no attribute alone singles the target out in every scene, and without
the caption the target is one of 3-4 look-alikes. It is written once under ``data_root`` in a
COCO-style json with RLE masks, plus the word-level tokenizer of its vocabulary::

    data_root/
      images/{split}_{scene:06d}.png
      {split}.json        images, annotations (RLE, caption, attributes), categories,
                          pairs (ann1, ann2, caption, swapped_caption), info
      tokenizer/          a transformers tokenizer folder (word level)

The same json layout, written by a user for real data, loads with ``generate=False``
(``swapped_caption`` is only needed for ``caption_mode='swapped'``).
"""
import json
import os
import os.path as osp
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

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
SIZES = {'small': (0.15, 0.19), 'large': (0.27, 0.32)}
SIDES = ('left', 'right')
ATTRIBUTES = dict(color=tuple(COLORS), shape=SHAPES, size=tuple(SIZES), side=SIDES)
GENERATOR_VERSION = 2
CAPTION = 'the {size} {color} {shape} on the {side}'
PROMPT_WORDS = ('the', 'on', 'describe', 'this', 'region', 'please', 'segment', 'it', 'is')


def region_pair_vocabulary() -> List[str]:
    """Every word of the procedural captions and the MLLM instructions."""
    return list(PROMPT_WORDS) + [v for values in ATTRIBUTES.values() for v in values]


def caption_of(obj: Dict[str, str]) -> str:
    """``'the {size} {color} {shape} on the {side}'`` of an attribute dict."""
    return CAPTION.format(**obj)


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


def _place(rng: np.random.Generator, objects: List[Dict[str, str]],
           img_size: int) -> Optional[List[np.ndarray]]:
    """Non-overlapping masks (1 px apart) with each centre on its ``side`` half, or None."""
    masks, taken = [], np.zeros((img_size, img_size), bool)
    half = img_size // 2
    for obj in objects:
        for _ in range(100):
            size = int(rng.uniform(*SIZES[obj['size']]) * img_size)
            r = size // 2
            lo, hi = (r + 1, half - 1) if obj['side'] == 'left' else (half + 1, img_size - r - 2)
            c = (int(rng.integers(lo, hi + 1)), int(rng.integers(r + 1, img_size - r - 1)))
            mask = _draw(obj['shape'], size, c, img_size)
            grown = cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool)
            if not (grown & taken).any():
                break
        else:
            return None
        taken |= mask.astype(bool)
        masks.append(mask)
    return masks


def _random_object(rng: np.random.Generator, target: Dict[str, str]) -> Dict[str, str]:
    """Random attributes, differing from ``target`` in at least two."""
    while True:
        obj = {a: str(v[rng.integers(len(v))]) for a, v in ATTRIBUTES.items()}
        if sum(obj[a] != target[a] for a in ATTRIBUTES) >= 2:
            return obj


def _scene(rng: np.random.Generator, target: Dict[str, str], num_distractors: Tuple[int, int],
           img_size: int, hard_fraction: float = 1.0
           ) -> Tuple[np.ndarray, List[Dict[str, str]], List[np.ndarray]]:
    """A scene of the target and distractors. A hard distractor (probability
    ``hard_fraction``) differs from the target in one attribute, a different one for each;
    the others are random objects. Returns the RGB image, the objects (target first) and
    one mask per object."""
    while True:
        k = int(rng.integers(num_distractors[0], num_distractors[1] + 1))
        objects = [target]
        for attr in rng.choice(list(ATTRIBUTES), k, replace=False):
            if rng.random() >= hard_fraction:
                objects.append(_random_object(rng, target))
                continue
            others = [v for v in ATTRIBUTES[attr] if v != target[attr]]
            objects.append(dict(target, **{str(attr): others[rng.integers(len(others))]}))
        masks = _place(rng, objects, img_size)
        if masks is not None:
            break
    img = np.full((img_size, img_size, 3), rng.integers(90, 170, 3), np.float32)
    img += rng.normal(0, 12, img.shape)
    for obj, mask in zip(objects, masks):
        img[mask.astype(bool)] = np.array(COLORS[obj['color']], np.float32) + rng.normal(0, 12, 3)
    return np.clip(img, 0, 255).astype(np.uint8), objects, masks


def generate_region_pairs(data_root: str, split: str, num_pairs: int, img_size: int = 64,
                          num_distractors: Tuple[int, int] = (2, 3), hard_fraction: float = 1.0,
                          seed: int = 0) -> str:
    """Write ``num_pairs`` procedural pairs of ``split``; returns the json path.

    ``hard_fraction`` is the probability that a distractor differs from the target in one
    attribute only (else it is a random object differing in two or more).
    """
    rng = np.random.default_rng([seed, {'train': 0, 'val': 1, 'test': 2}.get(split, 3)])
    combos = [(c, s) for c in COLORS for s in SHAPES]
    categories = [dict(id=i + 1, name=f'{c} {s}') for i, (c, s) in enumerate(combos)]
    os.makedirs(osp.join(data_root, 'images'), exist_ok=True)
    images, annotations, pairs = [], [], []
    for p in range(num_pairs):
        target = {a: str(v[rng.integers(len(v))]) for a, v in ATTRIBUTES.items()}
        ann_ids = []
        for _ in range(2):
            img, objects, masks = _scene(rng, target, num_distractors, img_size, hard_fraction)
            image_id = len(images) + 1
            name = f'{split}_{image_id:06d}.png'
            cv2.imwrite(osp.join(data_root, 'images', name), img[..., ::-1])
            images.append(dict(id=image_id, file_name=name, height=img_size, width=img_size))
            for obj, mask in zip(objects, masks):
                rle = rle_encode(mask)
                ys, xs = np.nonzero(mask)
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=image_id, iscrowd=0,
                    category_id=combos.index((obj['color'], obj['shape'])) + 1,
                    segmentation=rle, area=rle_area(rle), caption=caption_of(obj),
                    attributes=obj, bbox=[int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1,
                                          int(np.ptp(ys)) + 1]))
            ann_ids.append(annotations[-len(objects)]['id'])
        # the attribute-swapped caption names a distractor of scene 2 that differs from the
        # target in one attribute (a random attribute changed when there is none)
        near = [o for o in objects[1:] if sum(o[a] != target[a] for a in ATTRIBUTES) == 1]
        if near:
            distractor = near[rng.integers(len(near))]
        else:
            attr = list(ATTRIBUTES)[rng.integers(len(ATTRIBUTES))]
            others = [v for v in ATTRIBUTES[attr] if v != target[attr]]
            distractor = dict(target, **{attr: others[rng.integers(len(others))]})
        pairs.append(dict(id=p + 1, ann1=ann_ids[0], ann2=ann_ids[1], caption=caption_of(target),
                          swapped_caption=caption_of(distractor)))
    info = dict(generator='cissreg.region_pairs', version=GENERATOR_VERSION, split=split,
                num_pairs=num_pairs, img_size=img_size, seed=seed,
                num_distractors=list(num_distractors), hard_fraction=hard_fraction)
    path = osp.join(data_root, f'{split}.json')
    fd, tmp = tempfile.mkstemp(dir=data_root, suffix='.json.tmp')
    with os.fdopen(fd, 'w') as f:
        json.dump(dict(info=info, images=images, annotations=annotations,
                       categories=categories, pairs=pairs), f)
    os.replace(tmp, path)
    return path


CAPTION_MODES = ('true', 'shuffled', 'swapped')


def derangement(n: int, seed: int = 0) -> np.ndarray:
    """A fixed permutation of ``range(n)`` without fixed points (n >= 2)."""
    order = np.random.default_rng(seed).permutation(n)
    perm = np.empty(n, np.int64)
    perm[order] = np.roll(order, -1)
    return perm


@DATASETS.register_module()
class RegionPairDataset(BaseDataset):
    """Pairs from a COCO-style json with a ``pairs`` list (``ann1``, ``ann2``, ``caption``).

    With ``generate=True`` (the default) a missing ``{split}.json`` is generated first (see
    the module docstring), and so is the ``tokenizer`` folder; an existing json made with
    other generator parameters raises, naming them.

    Args:
        data_root (str): Dataset folder.
        split (str): ``'train'``, ``'val'`` or ``'test'`` (``{split}.json``; each split is
            generated from its own random stream). Defaults to ``'train'``.
        pipeline (list[dict]): Transforms (``LoadRegionPair`` ...).
        generate (bool): Generate procedural data when missing. Defaults to True.
        num_pairs (int): Pairs to generate. Defaults to 400.
        img_size (int): Generated image side. Defaults to 64.
        seed (int): Generator seed. Defaults to 0.
        hard_fraction (float): Probability that a generated distractor differs from the
            target in one attribute only (else it is a random object). Defaults to 1.0.
        caption_mode (str): Which caption each pair gets, for text-sensitivity checks:
            ``'true'`` (its own), ``'shuffled'`` (another pair's, a fixed derangement) or
            ``'swapped'`` (the json's ``swapped_caption``: one attribute changed so that it
            names a distractor of scene 2). Defaults to ``'true'``.
        **kwargs: ``BaseDataset`` arguments (``test_mode``, ``indices``, ...).
    """

    def __init__(self, data_root: str, split: str = 'train', pipeline: Sequence = (),
                 generate: bool = True, num_pairs: int = 400, img_size: int = 64,
                 seed: int = 0, hard_fraction: float = 1.0, caption_mode: str = 'true',
                 **kwargs) -> None:
        if caption_mode not in CAPTION_MODES:
            raise ValueError(f'caption_mode must be one of {CAPTION_MODES}, got {caption_mode!r}')
        self.split = split
        self.caption_mode = caption_mode
        ann_file = osp.join(data_root, f'{split}.json')
        if generate:
            params = dict(num_pairs=num_pairs, img_size=img_size, seed=seed,
                          hard_fraction=hard_fraction)
            if not osp.isfile(ann_file):
                generate_region_pairs(data_root, split, **params)
            else:
                with open(ann_file) as f:
                    info = json.load(f).get('info', {})
                expected = dict(params, version=GENERATOR_VERSION)
                diff = {k: (info.get(k), v) for k, v in expected.items() if info.get(k) != v}
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
        pairs = coco['pairs']
        captions = [pair['caption'] for pair in pairs]
        if self.caption_mode == 'shuffled' and len(pairs) > 1:
            captions = [captions[i] for i in derangement(len(pairs))]
        elif self.caption_mode == 'swapped':
            missing = [pair['id'] for pair in pairs if 'swapped_caption' not in pair]
            if missing:
                raise KeyError(f"{self.ann_file}: pairs {missing[:5]} have no 'swapped_caption' "
                               "(needed by caption_mode='swapped')")
            captions = [pair['swapped_caption'] for pair in pairs]
        data = []
        for pair, caption in zip(pairs, captions):
            a1, a2 = anns[pair['ann1']], anns[pair['ann2']]
            data.append(dict(
                sample_id=pair['id'], caption=caption,
                img1_path=osp.join(img_dir, images[a1['image_id']]['file_name']),
                img2_path=osp.join(img_dir, images[a2['image_id']]['file_name']),
                segm1=a1['segmentation'], segm2=a2['segmentation']))
        return data
