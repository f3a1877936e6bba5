"""Block a process at a chosen point so that a test can SIGKILL it exactly there.

Put this folder on ``PYTHONPATH`` and set ``CISSREG_PAUSE_AT`` (and ``CISSREG_PAUSE_MARKER``,
a file created when the process blocks); every Python process started with that environment,
child processes included, applies it:

* ``backward:N`` blocks in the process's ``N``-th ``Tensor.backward`` (a training process: in
  iteration ``N`` of the first epoch it trains);
* ``fsync:TEXT`` blocks in ``os.fsync`` of a file whose path contains ``TEXT`` (an atomic
  write: the data is in the temp file, not yet renamed over the target).

Not collected by pytest (no ``test_`` prefix); without ``CISSREG_PAUSE_AT`` it does nothing.
"""
import os
import time

_SPEC = os.environ.get('CISSREG_PAUSE_AT')


def _block() -> None:
    open(os.environ['CISSREG_PAUSE_MARKER'], 'w').close()
    time.sleep(600)


if _SPEC:
    _kind, _what = _SPEC.split(':', 1)
    if _kind == 'backward':
        import torch
        _calls = [0]
        _real_backward = torch.Tensor.backward

        def _backward(self, *args, **kwargs):
            _calls[0] += 1
            if _calls[0] == int(_what):
                _block()
            return _real_backward(self, *args, **kwargs)

        torch.Tensor.backward = _backward
    elif _kind == 'fsync':
        _real_fsync = os.fsync

        def _fsync(fd):
            if _what in os.readlink(f'/proc/self/fd/{fd}'):
                _block()
            return _real_fsync(fd)

        os.fsync = _fsync
    else:
        raise ValueError(f'CISSREG_PAUSE_AT: unknown kind {_kind!r} in {_SPEC!r}')
