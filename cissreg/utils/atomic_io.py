"""Crash-safe file writes: temp file in the target directory, fsync, ``os.replace``.

A reader of ``path`` sees either the previous complete file or the new complete file, never a
partial one, whatever point the writer dies at. :class:`AtomicLocalBackend` exposes the same
write as an mmengine file backend so ``mmengine.runner.save_checkpoint`` can use it.
"""
import errno
import os
import os.path as osp
import re
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO, List, Union

from mmengine.fileio import LocalBackend, register_backend

ATOMIC_LOCAL_BACKEND = 'cissreg_atomic_local'
_CHUNK = 1 << 24
# ".<name>.<8 chars>.tmp": this module's temp files (and those of tempfile.mkstemp it used before)
_TEMP_NAME = re.compile(r'\..+\.[0-9a-z_]{8}\.tmp')


def _create_temp_file(path: str) -> str:
    """Create an empty ``.<name>.<8 hex>.tmp`` next to ``path`` (mode 0o666 less the umask)."""
    directory, name = osp.split(path)
    while True:
        tmp_path = osp.join(directory, f'.{name}.{secrets.token_hex(4)}.tmp')
        try:
            os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp_path
        except FileExistsError:
            continue


def atomic_write_bytes(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (directories are created).

    The bytes go to a hidden temp file next to ``path``, are flushed and fsynced, and the temp
    file is renamed over ``path``; the directory is fsynced so the rename survives a power loss.
    On any exception (including ``KeyboardInterrupt``) the temp file is removed and ``path`` is
    untouched. The file gets the usual permissions (0o666 less the process umask).

    Args:
        path (str | Path): Final file path.
        data (bytes): Complete file content.

    Raises:
        OSError: ``errno.ENOSPC`` with a message naming ``path``, the bytes needed and the bytes
            free when the disk is full; ``EFBIG`` (``ulimit -f``) and ``EDQUOT`` (quota) naming
            ``path`` and the bytes; other ``OSError`` as raised.
    """
    path = osp.abspath(os.fspath(path))
    directory = osp.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp_path = _create_temp_file(path)
    try:
        with open(tmp_path, 'wb') as f:
            _write_chunks(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException as err:
        if osp.exists(tmp_path):
            os.unlink(tmp_path)
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            raise _disk_full_error(path, len(data)) from err
        if isinstance(err, OSError) and err.errno in _LIMIT_ERRORS:
            raise _limit_error(err.errno, path, len(data)) from err
        raise
    _fsync_directory(directory)


# a size limit rather than a full disk: the process's file-size limit (ulimit -f) and a quota
_LIMIT_ERRORS = {errno.EFBIG: ('File too large', 'the file-size limit of this process '
                               '(ulimit -f) is below the checkpoint size; raise it'),
                 errno.EDQUOT: ('Disk quota exceeded', 'the disk quota of this user is used '
                                'up; free some of it (e.g. fewer old checkpoints: '
                                'max_keep_ckpts)')}


def _limit_error(code: int, path: str, needed: int) -> OSError:
    name, advice = _LIMIT_ERRORS[code]
    kept = ('its previous version is kept' if osp.exists(path) else
            'no partial file is left')
    return OSError(code, f'{name} while writing {path}: {needed} bytes; {kept}, earlier files '
                   f'are untouched. {advice[0].upper()}{advice[1:]}, then resume.', path)


def _disk_full_error(path: str, needed: int) -> OSError:
    free = shutil.disk_usage(osp.dirname(path)).free
    kept = ('its previous version is kept' if osp.exists(path) else
            'no partial file is left')
    return OSError(
        errno.ENOSPC, f'No space left on device while writing {path}: {needed} bytes needed, '
        f'{free} bytes free on that file system; {kept}, earlier files are untouched. Free '
        'some space (e.g. fewer old checkpoints: max_keep_ckpts) and resume.', path)


def remove_stale_temp_files(directory: Union[str, Path]) -> List[str]:
    """Remove the temp files that writes killed before their rename left in ``directory``.

    Only call it when no other process writes into ``directory``.

    Args:
        directory (str | Path): Directory to clean (not recursive).

    Returns:
        list[str]: Names of the removed files.
    """
    if not osp.isdir(directory):
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        full = osp.join(directory, name)
        if _TEMP_NAME.fullmatch(name) and osp.isfile(full):
            os.unlink(full)
            removed.append(name)
    return removed


def atomic_write_text(path: Union[str, Path], text: str, encoding: str = 'utf-8') -> None:
    """Text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode(encoding))


def _write_chunks(f: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        f.write(view[start:start + _CHUNK])


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@register_backend(ATOMIC_LOCAL_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """mmengine ``LocalBackend`` whose ``put`` / ``put_text`` are atomic.

    Select it with ``backend_args=dict(backend='cissreg_atomic_local')``.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(filepath, obj)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write_text(filepath, obj, encoding)
