"""Safe (``weights_only``) checkpoint loading for mmengine 0.10.7 under torch >= 2.6.

An mmengine checkpoint holds, besides tensors, the ``MessageHub`` state (``HistoryBuffer``
objects whose pickled state names ``HistoryBuffer.min`` etc. through ``getattr``), numpy
arrays / scalars / dtypes (dataset meta, best scores) and ``collections.Counter`` (MultiStepLR
milestones). torch's ``weights_only`` unpickler refuses the first two kinds. This module
allowlists exactly those globals, routes mmengine's local-file checkpoint loader through an
explicit ``torch.load(..., weights_only=True)`` (so ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot
turn it off) and turns a refused global into an :class:`UnsafeCheckpointError` that names the
file and the global. Nothing ever falls back to ``weights_only=False``.
"""
import os.path as osp
import pickle
import re
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')
_REFUSED_GLOBAL = re.compile(r'GLOBAL (\S+)')


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a global that safe loading does not allow."""


def _history_buffer_getattr(obj: Any, name: str) -> Callable:
    """``getattr`` as allowed inside checkpoints: HistoryBuffer's default statistics only.

    A pickled ``HistoryBuffer`` refers to its statistics methods as
    ``getattr(HistoryBuffer, 'min')``; any other use of ``getattr`` is refused.
    """
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    owner = getattr(obj, '__qualname__', type(obj).__qualname__)
    raise pickle.UnpicklingError(
        f'Unsupported global: GLOBAL getattr({owner},{name}) (cissreg allows getattr in '
        'checkpoints only for HistoryBuffer statistics methods)')


def _numpy_globals() -> List[Union[Any, Tuple[Any, str]]]:
    """numpy's array/scalar reconstructors and dtype classes, under numpy 2 and numpy 1 names."""
    multiarray = np._core.multiarray
    dtype_classes = [getattr(np.dtypes, name) for name in np.dtypes.__all__
                     if isinstance(getattr(np.dtypes, name), type)
                     and issubclass(getattr(np.dtypes, name), np.dtype)]
    return [
        np.ndarray,
        np.dtype,
        *dtype_classes,
        (multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy._core.multiarray.scalar'),
        # checkpoints written under numpy 1.x name the same functions by their old module
        (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy.core.multiarray.scalar'),
    ]


def checkpoint_safe_globals() -> List[Union[Any, Tuple[Any, str]]]:
    """The globals (or ``(object, 'module.name')`` pairs) mmengine checkpoints need."""
    return [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        *_numpy_globals(),
    ]


def safe_torch_load(file: Any, map_location: Any = None) -> Any:
    """``torch.load(file, weights_only=True)`` with an actionable error for refused globals.

    Args:
        file (str | file-like): Checkpoint path or open binary file.
        map_location: As in :func:`torch.load`.

    Returns:
        The loaded object (usually a dict).

    Raises:
        UnsafeCheckpointError: The checkpoint pickles a global that is not allowlisted.
    """
    try:
        return torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        name = file if isinstance(file, str) else getattr(file, 'name', repr(file))
        found = _REFUSED_GLOBAL.search(str(err))
        what = (f'asks for the global {found.group(1)}' if found else
                f'contains an object that safe loading refuses ({str(err).splitlines()[0]})')
        raise UnsafeCheckpointError(
            f'checkpoint {name} {what}, which cissreg does not allow under safe loading '
            '(torch.load(weights_only=True)). If you trust this file, convert it once to a '
            'plain state dict: ckpt = torch.load(path, weights_only=False); '
            "torch.save({'state_dict': ckpt['state_dict']}, new_path); or allowlist that exact "
            'class with torch.serialization.add_safe_globals([...]) before loading.') from err


def load_from_local_safe(filename: str, map_location: Optional[Any] = None) -> Any:
    """mmengine ``CheckpointLoader`` scheme for local paths, through :func:`safe_torch_load`."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location=map_location)


def register_checkpoint_safe_globals() -> None:
    """Allow the exact globals mmengine checkpoints need and load local files safely.

    Idempotent. Also installs :func:`load_from_local_safe` as mmengine's loader for local
    paths, which ``Runner.load_checkpoint`` / ``resume`` / ``load_from`` and
    ``mmengine.runner.load_checkpoint`` use.
    """
    torch.serialization.add_safe_globals(checkpoint_safe_globals())
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safe, force=True)
