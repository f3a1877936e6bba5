"""Safe (``weights_only``) checkpoint loading for mmengine 0.10.7 under torch >= 2.6.

An mmengine checkpoint holds, besides tensors, the ``MessageHub`` state (``HistoryBuffer``
objects whose pickled state names ``HistoryBuffer.min`` etc. through ``getattr``), numpy
arrays / scalars / dtypes (dataset meta, best scores) and ``collections.Counter`` (MultiStepLR
milestones). torch's ``weights_only`` unpickler refuses the first two kinds. This module
allowlists exactly those globals while :func:`safe_torch_load` loads, an explicit
``torch.load(..., weights_only=True)`` (so ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot turn it
off) that turns a refused global into an :class:`UnsafeCheckpointError` naming the file and the
global. Nothing ever falls back to ``weights_only=False``.

Importing this module changes nothing; :func:`register_checkpoint_safe_globals` (called by
:func:`cissreg.utils.register_all_modules`) routes mmengine's local-file checkpoint loader
through :func:`safe_torch_load`.
"""
import os.path as osp
import pickle
import pickletools
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


class UnreadableCheckpointError(RuntimeError):
    """A file is not a readable PyTorch checkpoint (truncated, corrupt or something else)."""


# what torch.load raises for a truncated / corrupt zip archive, random bytes, a text file, an
# empty or truncated legacy file; a refused global is told apart by _REFUSED_GLOBAL
_UNREADABLE_ERRORS = (pickle.UnpicklingError, EOFError, KeyError, ValueError, IndexError,
                      UnicodeDecodeError, OverflowError, MemoryError)
_ZIP_READER_ERROR = 'PytorchStreamReader'


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
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
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
    """``torch.load(file, weights_only=True)`` with actionable errors.

    Args:
        file (str | file-like): Checkpoint path or open binary file.
        map_location: As in :func:`torch.load`.

    Returns:
        The loaded object (usually a dict).

    Raises:
        UnsafeCheckpointError: The file is a valid pickle holding a global that is not
            allowlisted (the message says how to convert a trusted file).
        UnreadableCheckpointError: The file is truncated, corrupt or not a checkpoint at all;
            the message names the file and its size and never suggests unsafe loading.
    """
    name = file if isinstance(file, str) else getattr(file, 'name', repr(file))
    try:
        # only the globals not allowed already: leaving the context removes what it added
        allowed = set(torch.serialization.get_safe_globals())
        missing = [g for g in checkpoint_safe_globals() if g not in allowed]
        with torch.serialization.safe_globals(missing):
            return torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = _REFUSED_GLOBAL.search(str(err))
        if found is None:
            if _is_plain_pickle(name):
                raise UnsafeCheckpointError(
                    f'{name} is a plain pickle file, not a torch.save checkpoint: loading it '
                    'could run any code it names, so cissreg does not load it. If you trust '
                    'it, convert it once: obj = pickle.load(open(path, "rb")); '
                    'torch.save(obj, new_path), and load new_path.') from None
            raise _unreadable(name, err) from None
        raise UnsafeCheckpointError(
            f'checkpoint {name} asks for the global {found.group(1)}, which cissreg does not '
            'allow under safe loading (torch.load(weights_only=True)). If you trust this '
            'file, convert it once to a plain state dict: ckpt = torch.load(path, '
            "weights_only=False); torch.save({'state_dict': ckpt['state_dict']}, new_path); "
            'or allowlist that exact class with torch.serialization.add_safe_globals([...]) '
            'before loading.') from err
    except RuntimeError as err:
        if _ZIP_READER_ERROR not in str(err):
            raise
        raise _unreadable(name, err) from None
    except _UNREADABLE_ERRORS as err:
        raise _unreadable(name, err) from None


# what torch.save's legacy (non-zip) format pickles first: its magic number, protocol 2
_TORCH_LEGACY_MAGIC = pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2)[:12]


def _is_plain_pickle(name: Any) -> bool:
    """True for a complete pickle stream that torch.save did not write (read, not run)."""
    if not isinstance(name, str) or not osp.isfile(name):
        return False
    with open(name, 'rb') as f:
        head = f.read(len(_TORCH_LEGACY_MAGIC))
        if len(head) < 2 or head[0] != 0x80 or head == _TORCH_LEGACY_MAGIC:
            return False
        f.seek(0)
        try:
            ops = [op.name for op, _, _ in pickletools.genops(f)]
        except Exception:  # noqa: BLE001 (truncated or not a pickle)
            return False
    return bool(ops) and ops[-1] == 'STOP'


def _unreadable(name: str, err: BaseException) -> UnreadableCheckpointError:
    size = (f'{osp.getsize(name)} bytes' if isinstance(name, str) and osp.isfile(name)
            else 'size unknown')
    return UnreadableCheckpointError(
        f'{name} is not a readable PyTorch checkpoint (truncated or not a checkpoint): {size} '
        f'(torch.load raised {type(err).__name__}). If it is the newest checkpoint of a run, '
        'resume from the previous one (set load_from to it, or point last_checkpoint to it).')


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
