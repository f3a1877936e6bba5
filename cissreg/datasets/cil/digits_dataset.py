"""scikit-learn's bundled handwritten digits (8x8) as an offline class-incremental dataset."""
from typing import List, Tuple

import numpy as np

from cissreg.registry import DATASETS
from cissreg.utils.optional_import import import_optional

from .base_cil_dataset import BaseCILDataset

DIGIT_NAMES = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine')


@DATASETS.register_module()
class DigitsCILDataset(BaseCILDataset):
    """``sklearn.datasets.load_digits`` (1797 8x8 images, 10 classes), no download.

    Pixel values 0..16 become uint8 0..255 on 3 equal channels. The split is fixed and
    stratified: within each class, every ``test_every``-th image (in file order) is a test
    image, the rest are training images (1442 / 355 with the default 5).
    See :class:`BaseCILDataset` for ``split`` and the class order arguments.

    Args:
        test_every (int): Test one image out of this many per class. Defaults to 5.
        **kwargs: :class:`BaseCILDataset` arguments (``data_root`` is unused).
    """

    def __init__(self, test_every: int = 5, **kwargs) -> None:
        self.test_every = test_every
        super().__init__(**kwargs)

    def load_samples(self) -> Tuple[List[dict], List[str]]:
        datasets = import_optional('sklearn.datasets', 'clip', 'DigitsCILDataset')
        digits = datasets.load_digits()
        images = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
        labels = digits.target.astype(np.int64)
        samples = []
        for c in range(10):
            for k, i in enumerate(np.flatnonzero(labels == c)):
                is_test = k % self.test_every == self.test_every - 1
                if is_test == (self.split == 'test'):
                    samples.append((int(i), c))
        samples.sort()
        return [dict(img=np.repeat(images[i][:, :, None], 3, axis=2), ori_label=c,
                     img_path=f'digits/{i}') for i, c in samples], list(DIGIT_NAMES)
