"""cissreg: an OpenMMLab-style registry toolkit for continual learning, distillation and
self-training.

Importing it changes nothing in mmengine or torch; programs call
:func:`cissreg.utils.register_all_modules` once before building from a config.
"""
from .version import __version__

__all__ = ['__version__']
