from .formatting import PackDetInputs
from .loading import LoadDetAnnotations, LoadImageFromFile
from .transforms import (HSVRandomAug, KeepRatioResize, LetterResize, Mosaic, RandomAffine,
                         RandomFlip)

__all__ = [
    'PackDetInputs', 'LoadDetAnnotations', 'LoadImageFromFile', 'HSVRandomAug',
    'KeepRatioResize', 'LetterResize', 'Mosaic', 'RandomAffine', 'RandomFlip'
]
