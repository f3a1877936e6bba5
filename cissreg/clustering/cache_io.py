"""Files of the GCD pipeline: the feature cache and the pseudo-label ``.npz``.

Feature cache (``features.npz``, written by ``tools/cache_features.py``): ``indices`` int64
[N] (train-set sample index), ``features`` float32 [N, D], ``labels`` int64 [N] (known label or
-1), ``labelled`` bool [N], ``targets`` int64 [N] (ground truth, for evaluation only, never read
by the clustering) and ``metadata`` (JSON: epoch, checkpoint, ...).

Pseudo labels (``pseudo_labels/epoch_{epoch:03d}.npz``): ``indices``, ``labels`` (-1 = unassigned),
``core_mask``, ``densities``, ``best_params`` (JSON), ``score`` and ``metadata`` (JSON with
the SHA-256 of the feature arrays (:func:`feature_digest`), their epoch and checkpoint), so a
file made from other features is refused by :func:`load_pseudo_labels`. Both are written
atomically (temp file + rename).
"""
import hashlib
import io
import json
import zipfile
from typing import Dict, Optional

import numpy as np

from cissreg.utils.atomic_io import atomic_write_bytes

FEATURE_KEYS = ('indices', 'features', 'labels', 'labelled', 'targets', 'metadata')
PSEUDO_KEYS = ('indices', 'labels', 'core_mask', 'densities', 'best_params', 'score',
               'metadata')


class PseudoLabelFileError(ValueError):
    """A feature cache or pseudo-label file is unreadable, incomplete or stale."""


def feature_digest(path: str) -> str:
    """Hex SHA-256 of a feature cache's ``indices``, ``features`` and ``labels`` arrays.

    Unlike the file bytes (``np.savez`` stores write times), it is the same for the same
    content, so pseudo labels stay valid for a feature cache that was written again.
    """
    cache = load_feature_cache(path)
    digest = hashlib.sha256()
    for key in ('indices', 'features', 'labels'):
        array = np.ascontiguousarray(cache[key])
        digest.update(f'{key}:{array.dtype.str}:{array.shape}'.encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_npz(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """``np.savez`` into memory, then one atomic write of the bytes."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_npz(path: str, keys, kind: str) -> Dict:
    """All ``keys`` of an ``.npz`` as arrays (JSON keys decoded), or a clear error.

    Raises:
        PseudoLabelFileError: the file is missing, not a readable ``.npz`` or lacks a key.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise PseudoLabelFileError(f'{kind} file {path!r} lacks {missing}; delete it '
                                           'to have it made again')
            out = {k: data[k] for k in keys}
    except PseudoLabelFileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise PseudoLabelFileError(f'{kind} file {path!r} is corrupt or unreadable '
                                   f'({type(err).__name__}: {err}); delete it to have it made '
                                   'again') from err
    for key in ('metadata', 'best_params'):
        if key in out:
            out[key] = json.loads(str(out[key]))
    return out


def save_feature_cache(path: str, indices: np.ndarray, features: np.ndarray,
                       labels: np.ndarray, targets: np.ndarray, metadata: Dict) -> None:
    """Write the feature cache (see the module docstring)."""
    labels = np.asarray(labels, dtype=np.int64)
    save_npz(path, dict(indices=np.asarray(indices, dtype=np.int64),
                        features=np.asarray(features, dtype=np.float32), labels=labels,
                        labelled=labels >= 0, targets=np.asarray(targets, dtype=np.int64),
                        metadata=np.array(json.dumps(metadata, sort_keys=True))))


def load_feature_cache(path: str) -> Dict:
    """Read a feature cache; :class:`PseudoLabelFileError` names a bad file."""
    return load_npz(path, FEATURE_KEYS, 'feature cache')


def save_pseudo_labels(path: str, indices: np.ndarray, labels: np.ndarray,
                       core_mask: np.ndarray, densities: np.ndarray, best_params: Dict,
                       score: float, metadata: Dict) -> None:
    """Write a pseudo-label file (see the module docstring)."""
    save_npz(path, dict(indices=np.asarray(indices, dtype=np.int64),
                        labels=np.asarray(labels, dtype=np.int64),
                        core_mask=np.asarray(core_mask, dtype=bool),
                        densities=np.asarray(densities, dtype=np.float64),
                        best_params=np.array(json.dumps(best_params, sort_keys=True)),
                        score=np.float64(score),
                        metadata=np.array(json.dumps(metadata, sort_keys=True))))


def load_pseudo_labels(path: str, expect: Optional[Dict] = None) -> Dict:
    """Read a pseudo-label file and check its metadata.

    Args:
        path (str): ``.npz`` path.
        expect (dict, optional): metadata entries that must match (e.g. ``feature_sha256``,
            ``epoch``); a differing entry means the file is stale.

    Returns:
        dict: arrays of :data:`PSEUDO_KEYS`, ``metadata`` and ``best_params`` as dicts.

    Raises:
        PseudoLabelFileError: unreadable, incomplete or stale file (the message names it).
    """
    out = load_npz(path, PSEUDO_KEYS, 'pseudo-label')
    for key, value in (expect or {}).items():
        if out['metadata'].get(key) != value:
            raise PseudoLabelFileError(
                f'pseudo-label file {path!r} is stale: metadata {key}='
                f'{out["metadata"].get(key)!r}, expected {value!r}; delete it to have it made '
                'again')
    return out
