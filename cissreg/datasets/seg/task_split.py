"""DKD's class-incremental segmentation settings: which images and labels each step uses."""
import hashlib
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.utils import ProgressBar
from PIL import Image

from cissreg.registry import TASK_UTILS

from ..base_task_split import BaseTaskSplit
from .task_subset import SegTaskSubset
from .transforms import label_lut


def ciss_task_sizes(name: str, num_classes: int) -> List[int]:
    """Classes per step of a setting ``'B-I'`` (``B`` base classes, then ``I`` per step) or
    ``'joint'``, e.g. ``'15-1'`` on VOC's 20 -> ``[15, 1, 1, 1, 1, 1]``.

    Raises:
        ValueError: The name does not parse or the increments do not divide the rest.
    """
    if name == 'joint':
        return [num_classes]
    try:
        base, inc = (int(v) for v in name.split('-'))
    except ValueError:
        raise ValueError(f"task {name!r}: expected 'B-I' (e.g. '15-1') or 'joint'") from None
    rest = num_classes - base
    if base <= 0 or inc <= 0 or rest <= 0 or rest % inc:
        raise ValueError(f'task {name!r} does not split {num_classes} classes into {base} '
                         f'then steps of {inc}')
    return [base] + [inc] * (rest // inc)


def label_presence(seg_paths: Sequence[str], progress: bool = True) -> np.ndarray:
    """``[num_images, 256]`` bool: which label values occur in each mask (one bincount
    per mask, no Python loop over pixels)."""
    out = np.zeros((len(seg_paths), 256), dtype=bool)
    bar = ProgressBar(len(seg_paths)) if progress and len(seg_paths) else None
    for i, path in enumerate(seg_paths):
        raw = np.asarray(Image.open(path), dtype=np.uint8)
        out[i] = np.bincount(raw.ravel(), minlength=256) > 0
        if bar is not None:
            bar.update()
    return out


def step_images(presence: np.ndarray, task_sizes: Sequence[int],
                setting: str) -> List[List[int]]:
    """Image indices of every training step by DKD's rules.

    An image belongs to step ``t`` when it holds a pixel of one of the step's classes; in
    the ``'disjoint'`` setting it must also hold no class of a later step.

    Args:
        presence (np.ndarray): ``[num_images, 256]`` from :func:`label_presence`.
        task_sizes (Sequence[int]): Classes per step (labels ``1 ..`` in order).
        setting (str): ``'overlap'`` or ``'disjoint'``.
    """
    if setting not in ('overlap', 'disjoint'):
        raise ValueError(f"setting must be 'overlap' or 'disjoint', got {setting!r}")
    bounds = np.cumsum([0] + list(task_sizes)) + 1  # step t: labels [bounds[t], bounds[t+1])
    out = []
    for t in range(len(task_sizes)):
        keep = presence[:, bounds[t]:bounds[t + 1]].any(1)
        if setting == 'disjoint':
            keep &= ~presence[:, bounds[t + 1]:bounds[-1]].any(1)
        out.append(np.flatnonzero(keep).tolist())
    return out


@TASK_UTILS.register_module()
class CISSTaskSplit(BaseTaskSplit):
    """Steps of a class-incremental segmentation setting (the ``IncrementalLoop`` split).

    * ``train_subset(dataset, t)``: the step's images (:func:`step_images`) plus the memory
      exemplars set for step ``t`` (DKD-M); labels outside step ``t``'s classes become 0
      (memory exemplars too, as DKD maps them), while their ``trusted_seg`` keeps every seen
      class (the gradient learner's trusted mask).
    * ``eval_subset(dataset, t)``: the images holding a class seen so far; later classes
      become 0 (DKD's test masking).

    The label presence of every mask and the per-step lists are computed once and cached in
    ``cache_dir`` as json, keyed by the setting and a hash of the mask paths; a second build
    reads the file.

    Args:
        task (str, optional): ``'15-1'``, ``'100-50'``, ``'joint'``, ... Defaults to the
            model's task sizes (handed by ``IncrementalLoop``).
        setting (str): ``'overlap'`` or ``'disjoint'``. Defaults to ``'overlap'``.
        cache_dir (str, optional): Cache folder (e.g. ``'work_dirs/ciss_splits'``, next to
            the work dirs); ``None`` disables caching.
        progress (bool): Progress bar while reading masks. Defaults to True.
    """

    def __init__(self, task: Optional[str] = None, setting: str = 'overlap',
                 cache_dir: Optional[str] = None, progress: bool = True) -> None:
        super().__init__()
        self.task, self.setting = task, setting
        self.cache_dir, self.progress = cache_dir, progress
        self.memory: Dict[int, List[int]] = {}
        self._lists: Dict[Tuple[str, str], dict] = {}
        self.last_from_cache = False

    # ------------------------------------------------------------------ classes
    def task_sizes(self, dataset) -> List[int]:
        num_classes = len(_base(dataset).metainfo['classes'])
        if self.task is None:
            return self._adopted(num_classes)
        return ciss_task_sizes(self.task, num_classes)

    def task_name(self, dataset) -> str:
        """``task``, or the setting's name of the adopted sizes (``[15, 1, 1, 1, 1, 1]`` ->
        ``'15-1'``, one step -> ``'joint'``); it names the cache files."""
        if self.task is not None:
            return self.task
        sizes = self.task_sizes(dataset)
        if len(sizes) == 1:
            return 'joint'
        if len(set(sizes[1:])) == 1:
            return f'{sizes[0]}-{sizes[1]}'
        return '-'.join(str(s) for s in sizes)

    def step_classes(self, dataset, task_id: int) -> List[int]:
        """Labels of step ``task_id``'s classes."""
        sizes = self.task_sizes(dataset)
        start = 1 + sum(sizes[:task_id])
        return list(range(start, start + sizes[task_id]))

    def task_info(self, dataset, task_id: int) -> dict:
        sizes = self.task_sizes(dataset)
        return dict(step=task_id, task_sizes=sizes,
                    new_classes=self.step_classes(dataset, task_id),
                    num_old=sum(sizes[:task_id]),
                    class_names=list(_base(dataset).metainfo['classes']))

    # ------------------------------------------------------------------ lists + cache
    def lists(self, dataset, kind: str = 'train') -> dict:
        """``dict(steps=[[idx, ...] per step], seen=[[idx, ...] per step])`` (cached)."""
        base = _base(dataset)
        paths = base.seg_paths()
        key = hashlib.sha1('\n'.join(paths).encode()).hexdigest()[:16]
        name = f'{self.task_name(base)}_{self.setting}_{kind}_{key}.json'
        if name in self._lists:
            return self._lists[name]
        cache = osp.join(self.cache_dir, name) if self.cache_dir else None
        if cache and osp.exists(cache):
            with open(cache, encoding='utf-8') as f:
                lists = json.load(f)
            self.last_from_cache = True
        else:
            presence = label_presence(paths, self.progress)
            sizes = self.task_sizes(base)
            lists = dict(steps=step_images(presence, sizes, self.setting),
                         seen=[np.flatnonzero(presence[:, 1:1 + sum(sizes[:t + 1])].any(1))
                               .tolist() for t in range(len(sizes))],
                         labels=[np.flatnonzero(p).tolist() for p in presence])
            self.last_from_cache = False
            if cache:
                os.makedirs(self.cache_dir, exist_ok=True)
                tmp = f'{cache}.{os.getpid()}.tmp'
                with open(tmp, 'w', encoding='utf-8') as f:
                    json.dump(lists, f)
                os.replace(tmp, cache)
        self._lists[name] = lists
        return lists

    # ------------------------------------------------------------------ subsets
    def set_memory(self, task_id: int, indices: Sequence[int]) -> None:
        """Memory exemplars (training-set indices) trained together with step ``task_id``."""
        self.memory[int(task_id)] = [int(i) for i in indices]

    def train_subset(self, dataset, task_id: int, pipeline: Optional[list] = None):
        new = self.step_classes(dataset, task_id)
        seen = list(range(1, new[-1] + 1))
        items = [(i, label_lut(new), None) for i in self.lists(dataset)['steps'][task_id]]
        items += [(i, label_lut(new), label_lut(seen)) for i in self.memory.get(task_id, [])]
        return SegTaskSubset(_base(dataset), items, pipeline=pipeline)

    def eval_subset(self, dataset, task_id: int):
        sizes = self.task_sizes(dataset)
        seen = list(range(1, 1 + sum(sizes[:task_id + 1])))
        lut = label_lut(seen)
        items = [(i, lut, None) for i in self.lists(dataset, 'eval')['seen'][task_id]]
        meta = dict(ciss_task=task_id, ciss_num_base=sizes[0], ciss_num_seen=len(seen))
        return SegTaskSubset(_base(dataset), items, extra=meta)


def _base(dataset):
    while isinstance(dataset, SegTaskSubset):
        dataset = dataset.dataset
    return dataset
