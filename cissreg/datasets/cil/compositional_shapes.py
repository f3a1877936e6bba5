"""Procedural coloured shapes with captions: a tiny CLIP's pretraining data and a CIL benchmark
over compositions it never saw.

Every image is one shape of one colour on a noisy dark background, at a random size,
position and texture; its caption names them in a few words ("small striped red star left.";
short, because the tiny CLIP's tokenizer is byte-level: one token per character). Colour-shape
pairs are split in two: the *seen* pairs caption the pretraining images, the *held-out* pairs
are the classes of the CIL benchmark. A text encoder pretrained on the seen pairs knows every colour
and shape word, but never saw "red star" as a pair, so zero-shot recognition of the held-out classes
tests composition, and classes that share a word ("red star" / "red cross", "red star" / "blue
star") are the semantically hard pairs the hinge loss is about.
"""
from typing import Dict, List, Tuple

import cv2
import numpy as np

from cissreg.registry import DATASETS

from .base_cil_dataset import BaseCILDataset

COLOURS: Dict[str, Tuple[int, int, int]] = {  # BGR
    'red': (40, 40, 230), 'green': (40, 190, 40), 'blue': (230, 90, 30),
    'yellow': (30, 220, 230), 'purple': (190, 40, 160), 'orange': (20, 140, 255),
    'white': (235, 235, 235), 'cyan': (230, 220, 40)}
SHAPES = ('circle', 'square', 'triangle', 'star', 'cross', 'ring')
SIZES = ('small', 'large')
TEXTURES = ('plain', 'striped', 'dotted')
POSITIONS = {'middle': (0.5, 0.5), 'left': (0.3, 0.5), 'right': (0.7, 0.5), 'top': (0.5, 0.3),
             'bottom': (0.5, 0.7)}


def held_out(colour: int, shape: int) -> bool:
    """Whether the pair (colour index, shape index) is a benchmark class (16 of 48)."""
    return (colour + 2 * shape) % 3 == 0


def composition_names(seen: bool) -> List[Tuple[str, str]]:
    """``(colour, shape)`` pairs that are seen in pretraining (True) or held out (False)."""
    return [(c, s) for ci, c in enumerate(COLOURS) for si, s in enumerate(SHAPES)
            if held_out(ci, si) != seen]


def _shape_points(shape: str, cx: float, cy: float, r: float) -> np.ndarray:
    if shape == 'square':
        angles = np.deg2rad([45, 135, 225, 315])
        radii = np.full(4, r * 1.2)
    elif shape == 'triangle':
        angles = np.deg2rad([-90, 30, 150])
        radii = np.full(3, r * 1.25)
    elif shape == 'star':
        angles = np.deg2rad(np.arange(10) * 36 - 90)
        radii = np.where(np.arange(10) % 2 == 0, r * 1.3, r * 0.5)
    else:  # cross: a plus sign of width r / 2
        w = r * 0.4
        pts = [(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w),
               (-r, w), (-r, -w), (-w, -w)]
        return np.array([(cx + x, cy + y) for x, y in pts])
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


def render(colour: str, shape: str, size: str, texture: str, position: str,
           rng: np.random.RandomState, image_size: int = 32) -> np.ndarray:
    """One image: uint8 [H, W, 3] BGR."""
    scale = 4  # draw large, then area-downsample for anti-aliasing
    big = image_size * scale
    img = (rng.rand(big, big, 1) * 50 + 10).repeat(3, axis=2).astype(np.float32)
    mask = np.zeros((big, big), np.uint8)
    fx, fy = POSITIONS[position]
    cx = (fx + rng.uniform(-0.06, 0.06)) * big
    cy = (fy + rng.uniform(-0.06, 0.06)) * big
    r = big * (0.13 if size == 'small' else 0.24) * rng.uniform(0.9, 1.1)
    if shape in ('circle', 'ring'):
        cv2.circle(mask, (int(cx), int(cy)), int(r), 255, -1)
        if shape == 'ring':
            cv2.circle(mask, (int(cx), int(cy)), int(r * 0.55), 0, -1)
    else:
        cv2.fillPoly(mask, [np.round(_shape_points(shape, cx, cy, r)).astype(np.int32)], 255)
    yy, xx = np.mgrid[:big, :big]
    if texture == 'striped':
        mask = mask * (((xx + yy) // (scale * 3)) % 2 == 0)
    elif texture == 'dotted':
        mask = mask * ((((xx // (scale * 3)) + (yy // (scale * 3))) % 2 == 0) |
                       ((xx % (scale * 3)) > scale * 1.5))
    colour_bgr = np.array(COLOURS[colour], np.float32) * rng.uniform(0.85, 1.0)
    img[mask > 0] = colour_bgr
    small = cv2.resize(img, (image_size, image_size), interpolation=cv2.INTER_AREA)
    return np.clip(small + rng.randn(*small.shape) * 4, 0, 255).astype(np.uint8)


def random_attributes(rng: np.random.RandomState) -> Dict[str, str]:
    """Size, texture and position drawn uniformly."""
    return dict(size=SIZES[rng.randint(len(SIZES))], texture=TEXTURES[rng.randint(len(TEXTURES))],
                position=list(POSITIONS)[rng.randint(len(POSITIONS))])


def caption(colour: str, shape: str, attrs: Dict[str, str], rng: np.random.RandomState) -> str:
    """A caption naming the colour and shape and, at random, the other attributes.

    One caption in four is the bare ``"{colour} {shape}."``: the template of the CIL prompts
    and raw-text hard pairs (``raw_text_template='{}.'``).
    """
    if rng.rand() < 0.25:
        return f'{colour} {shape}.'
    words = [attrs['size']] if rng.rand() < 0.7 else []
    if attrs['texture'] != 'plain' and rng.rand() < 0.7:
        words.append(attrs['texture'])
    words += [colour, shape]
    if rng.rand() < 0.7:
        words.append(attrs['position'])
    return ' '.join(words) + '.'


def caption_describes(text: str, colour: str, shape: str, attrs: Dict[str, str]) -> bool:
    """Whether every word of a :func:`caption` holds for an image of ``colour``, ``shape`` and
    ``attrs``: ``"small red star."`` describes a small red star whatever its texture and
    position, not a large one; the bare ``"red star."`` describes every red star."""
    return set(text.rstrip('.').split()) <= {colour, shape, *attrs.values()}


@DATASETS.register_module()
class CompositionalShapesCILDataset(BaseCILDataset):
    """The held-out colour-shape compositions as a class-incremental benchmark (16 classes).

    Images are generated in memory (no files) from ``seed`` and the split, so every run
    sees the same data. See :class:`BaseCILDataset` for ``split`` and the class order.

    Args:
        num_train (int): Training images per class. Defaults to 60.
        num_test (int): Test images per class. Defaults to 30.
        image_size (int): Side in pixels. Defaults to 32.
        seed (int): Data seed (the test split uses ``seed + 1``). Defaults to 0.
        **kwargs: :class:`BaseCILDataset` arguments (``data_root`` is unused).
    """

    def __init__(self, num_train: int = 60, num_test: int = 30, image_size: int = 32,
                 seed: int = 0, **kwargs) -> None:
        self.num_train, self.num_test = num_train, num_test
        self.image_size, self.seed = image_size, seed
        super().__init__(**kwargs)

    def load_samples(self) -> Tuple[List[dict], List[str]]:
        pairs = composition_names(seen=False)
        per_class = self.num_train if self.split == 'train' else self.num_test
        rng = np.random.RandomState(self.seed + (self.split == 'test'))
        samples = []
        for label, (colour, shape) in enumerate(pairs):
            for i in range(per_class):
                attrs = random_attributes(rng)
                img = render(colour, shape, rng=rng, image_size=self.image_size, **attrs)
                samples.append(dict(img=img, ori_label=label,
                                    img_path=f'{self.split}/{colour}_{shape}_{i}'))
        return samples, [f'{c} {s}' for c, s in pairs]
