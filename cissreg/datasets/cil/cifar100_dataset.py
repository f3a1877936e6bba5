"""CIFAR-100 in its python pickle layout (``cifar-100-python/{train,test,meta}``)."""
import os.path as osp
import pickle
from typing import Any, List, Tuple

import numpy as np

from cissreg.registry import DATASETS

from .base_cil_dataset import BaseCILDataset

_NUMPY_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy', 'ndarray'), ('numpy', 'dtype'), ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('_codecs', 'encode'),  # protocol-2 pickles written by Python 3 encode bytes with it
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that allows plain containers and numpy arrays only (CIFAR's content).

    Unpickling runs no other global, so a tampered file cannot execute code.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f'CIFAR pickle refers to {module}.{name}: only numpy arrays are expected')


def load_cifar_pickle(path: str) -> dict:
    """Load one CIFAR python-format file with ``str`` keys (the files have py2 byte keys)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f"CIFAR-100 file '{path}' not found (data_root in the dataset "
                                "config must hold cifar-100-python/ or its train/test/meta)")
    with open(path, 'rb') as f:
        content = _ArrayUnpickler(f, encoding='bytes').load()
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in content.items()}


@DATASETS.register_module()
class CIFAR100CILDataset(BaseCILDataset):
    """CIFAR-100 for class-incremental learning, read from the python pickle files.

    ``data_root`` is the folder that holds ``cifar-100-python/`` (as extracted from
    ``cifar-100-python.tar.gz``) or that folder itself. Images are kept in memory (BGR).
    See :class:`BaseCILDataset` for ``split`` and the class order arguments.
    """

    def load_samples(self) -> Tuple[List[dict], List[str]]:
        root = self.data_root
        if osp.isdir(osp.join(root, 'cifar-100-python')):
            root = osp.join(root, 'cifar-100-python')
        batch = load_cifar_pickle(osp.join(root, self.split))
        meta = load_cifar_pickle(osp.join(root, 'meta'))
        names = [n.decode() if isinstance(n, bytes) else str(n)
                 for n in meta['fine_label_names']]
        data = np.asarray(batch['data'], dtype=np.uint8)
        labels = [int(x) for x in batch['fine_labels']]
        if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
            raise ValueError(f"CIFAR-100 '{osp.join(root, self.split)}': expected data [N, 3072] "
                             f'and N labels, got {data.shape} and {len(labels)}')
        images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)[..., ::-1]  # RGB -> BGR
        files = batch.get('filenames', [None] * len(labels))
        samples = []
        for img, label, name in zip(images, labels, files):
            name = name.decode() if isinstance(name, bytes) else name
            samples.append(dict(img=np.ascontiguousarray(img), ori_label=label,
                                img_path=f'{self.split}/{name}' if name else None))
        return samples, names
