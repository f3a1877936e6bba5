"""cissreg: an OpenMMLab-style registry toolkit for continual learning, distillation and
self-training."""
from .version import __version__
from .utils.safe_load import register_checkpoint_safe_globals

# mmengine 0.10.7 checkpoints hold HistoryBuffer / numpy objects that torch>=2.6's
# `weights_only=True` refuses; allow exactly those, nothing else (see utils/safe_load.py).
register_checkpoint_safe_globals()

__all__ = ['__version__']
