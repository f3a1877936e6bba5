"""ImageNet-R (or any image-folder dataset) for class-incremental learning."""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np

from cissreg.registry import DATASETS

from .base_cil_dataset import BaseCILDataset

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def read_class_names(path: str) -> Dict[str, str]:
    """Folder -> class name map from a json object or ``folder name words...`` text lines."""
    if not osp.isfile(path):
        raise FileNotFoundError(f"class_names_file '{path}' not found")
    if path.endswith('.json'):
        with open(path, encoding='utf-8') as f:
            return {str(k): str(v) for k, v in json.load(f).items()}
    names = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            parts = line.strip().split(maxsplit=1)
            if len(parts) == 2:
                names[parts[0]] = parts[1]
    return names


@DATASETS.register_module()
class ImageNetRCILDataset(BaseCILDataset):
    """ImageNet-R in its folder layout: ``data_root/<class folder>/<image>``.

    Classes are the sorted sub-folders (200 WordNet ids for ImageNet-R). ImageNet-R has no
    official split; as in CODA-Prompt / RAPF, a fixed random ``1 - test_ratio`` /
    ``test_ratio`` split per class is drawn with ``split_seed``, or ``ann_file`` (lines
    ``relative/path.jpg``, one file per split) gives it explicitly.

    Prompts need words, not WordNet ids: ``class_names_file`` (json ``{folder: name}`` or
    lines ``folder name``) supplies them; folders missing there keep their folder name.
    The pipeline must start with ``LoadImageFromFile``.

    Args:
        ann_file (str, optional): This split's image list, relative to ``data_root``.
        class_names_file (str, optional): Folder -> name map.
        test_ratio (float): Test share per class without ``ann_file``. Defaults to 0.2.
        split_seed (int): Seed of that split. Defaults to 0.
        **kwargs: :class:`BaseCILDataset` arguments.
    """

    def __init__(self,
                 ann_file: Optional[str] = None,
                 class_names_file: Optional[str] = None,
                 test_ratio: float = 0.2,
                 split_seed: int = 0,
                 **kwargs) -> None:
        self.split_file = ann_file
        self.class_names_file = class_names_file
        self.test_ratio = test_ratio
        self.split_seed = split_seed
        super().__init__(**kwargs)

    def load_samples(self) -> Tuple[List[dict], List[str]]:
        root = self.data_root
        if not osp.isdir(root):
            raise FileNotFoundError(f"ImageNet-R folder '{root}' not found (data_root in the "
                                    'dataset config)')
        folders = sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d)))
        if not folders:
            raise FileNotFoundError(f"ImageNet-R folder '{root}' has no class sub-folders")
        mapping = read_class_names(self.class_names_file) if self.class_names_file else {}
        names = [mapping.get(d, d) for d in folders]
        label_of = {d: i for i, d in enumerate(folders)}
        if self.split_file is not None:
            list_path = osp.join(root, self.split_file)
            if not osp.isfile(list_path):
                raise FileNotFoundError(f"ann_file '{list_path}' not found")
            with open(list_path, encoding='utf-8') as f:
                rel_paths = [line.split()[0] for line in f if line.strip()]
            for rel in rel_paths:
                if rel.split('/')[0] not in label_of:
                    raise ValueError(f"ann_file '{list_path}': '{rel}' is not under a class "
                                     'folder of data_root')
        else:
            rng = np.random.RandomState(self.split_seed)
            rel_paths = []
            for d in folders:
                files = sorted(f for f in os.listdir(osp.join(root, d))
                               if f.lower().endswith(IMG_EXTENSIONS))
                perm = rng.permutation(len(files))
                n_test = int(round(len(files) * self.test_ratio))
                chosen = perm[:n_test] if self.split == 'test' else perm[n_test:]
                rel_paths.extend(f'{d}/{files[i]}' for i in sorted(chosen))
        samples = [dict(img_path=osp.join(root, rel), ori_label=label_of[rel.split('/')[0]])
                   for rel in rel_paths]
        return samples, names
