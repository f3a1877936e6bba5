"""K-shot subsets of a detection dataset: few images of each class, drawn once from a seed."""
from typing import Dict, List, Mapping, Sequence, Union

import numpy as np
from mmengine.logging import print_log

from cissreg.registry import DATASETS


def few_shot_indices(labels_per_image: Sequence[Sequence[int]], classes: Sequence[str],
                     shots: Union[int, Mapping[str, int]], seed: int = 0) -> List[int]:
    """Images such that every class appears in at least ``shots`` of them (where it can).

    The images are visited in a random order (``seed``); an image is kept when it contains a
    class that still has fewer than its number of shots among the kept images. A kept image
    counts for every class it contains (its other boxes stay annotated).

    Args:
        labels_per_image (Sequence[Sequence[int]]): Box labels of each image.
        classes (Sequence[str]): Class names, label order.
        shots (int | Mapping[str, int]): Images per class: one number, or per class name
            (classes left out get 0).
        seed (int): Order of the visit. Defaults to 0.

    Returns:
        list[int]: Sorted indexes of the kept images.

    Raises:
        ValueError: ``shots`` names an unknown class or a negative number.
    """
    if isinstance(shots, Mapping):
        unknown = sorted(set(shots) - set(classes))
        if unknown:
            raise ValueError(f'FewShotSubset: shots names {unknown}, not classes of the dataset '
                             f'{list(classes)}')
        need = np.array([int(shots.get(c, 0)) for c in classes])
    else:
        need = np.full(len(classes), int(shots))
    if (need < 0).any():
        raise ValueError(f'FewShotSubset: shots must be >= 0, got {shots}')
    have = np.zeros(len(classes), dtype=int)
    kept = []
    for i in np.random.default_rng(seed).permutation(len(labels_per_image)):
        present = sorted({int(label) for label in labels_per_image[i]})
        if any(have[c] < need[c] for c in present):
            kept.append(int(i))
            have[present] += 1
    return sorted(kept)


@DATASETS.register_module()
class FewShotSubset:
    """The images of ``dataset`` that give each class ``shots`` images (see
    :func:`few_shot_indices`), as in few-shot incremental detection splits.

    The subset depends on the dataset and ``seed`` only (not on the training seed), so runs
    at different training seeds see the same images. The dataset itself is cut to the subset
    (mmengine's ``get_subset_``), so transforms that draw other images from it (``Mosaic``,
    ``MixUp``) draw from the subset too; every other attribute (``metainfo``, ``pipeline``...)
    is the dataset's. ``indices`` holds the kept images' indexes in the full dataset.

    Args:
        dataset (dict): Config of the detection dataset (its ``data_list`` entries carry
            ``instances`` with ``bbox_label``).
        shots (int | dict[str, int]): Images per class, one number or per class name.
        seed (int): Seed of the draw. Defaults to 0.
    """

    def __init__(self, dataset: dict, shots: Union[int, Dict[str, int]], seed: int = 0) -> None:
        self.dataset = DATASETS.build(dataset)
        self.shots = shots
        self.seed = int(seed)
        self.dataset.full_init()
        labels = [[inst['bbox_label'] for inst in self.dataset.get_data_info(i)['instances']
                   if not inst.get('ignore_flag', 0)] for i in range(len(self.dataset))]
        classes = self.dataset.metainfo['classes']
        self.indices = few_shot_indices(labels, classes, shots, self.seed)
        counts = np.zeros(len(classes), dtype=int)
        for i in self.indices:
            for c in set(labels[i]):
                counts[c] += 1
        print_log(f'FewShotSubset: {len(self.indices)} of {len(labels)} images '
                  f'(images per class: {dict(zip(classes, counts.tolist()))}, shots {shots})',
                  logger='current')
        self.dataset.get_subset_(self.indices)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> dict:
        return self.dataset[idx]

    def get_data_info(self, idx: int) -> dict:
        """The dataset's entry of the ``idx``-th kept image."""
        return self.dataset.get_data_info(idx)

    def full_init(self) -> None:
        """Nothing to do: the dataset is initialised at construction."""

    def __getattr__(self, name: str):
        if name == 'dataset':  # not built yet (construction failed or unpickling)
            raise AttributeError(name)
        return getattr(self.dataset, name)
