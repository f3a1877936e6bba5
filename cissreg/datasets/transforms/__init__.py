from .formatting import PackDetInputs
from .loading import LoadDetAnnotations, LoadImageFromFile, resample_polygon
from .mix_img_transforms import CopyPaste, MixUp, Mosaic
from .transforms import HSVRandomAug, KeepRatioResize, LetterResize, RandomAffine, RandomFlip

__all__ = [
    'PackDetInputs', 'LoadDetAnnotations', 'LoadImageFromFile', 'resample_polygon',
    'HSVRandomAug', 'KeepRatioResize', 'LetterResize', 'CopyPaste', 'MixUp', 'Mosaic',
    'RandomAffine', 'RandomFlip'
]
