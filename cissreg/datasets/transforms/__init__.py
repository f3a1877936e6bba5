from .formatting import PackDetInputs
from .loading import LoadDetAnnotations, LoadImageFromFile
from .mix_img_transforms import MixUp, Mosaic
from .transforms import (HSVRandomAug, KeepRatioResize, LetterResize, RandomAffine,
                         RandomFlip)

__all__ = [
    'PackDetInputs', 'LoadDetAnnotations', 'LoadImageFromFile', 'HSVRandomAug',
    'KeepRatioResize', 'LetterResize', 'MixUp', 'Mosaic', 'RandomAffine', 'RandomFlip'
]
