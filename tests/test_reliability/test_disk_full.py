"""Disk full while saving a checkpoint: path and bytes named, previous checkpoint kept (item 7)."""
import errno
import os

import pytest
import torch

from cissreg.engine.runner import CissRunner


def test_enospc_names_path_and_size_and_keeps_the_previous_checkpoint(toy, tmp_path,
                                                                      monkeypatch):
    real_fsync = os.fsync

    def full_disk(fd):
        if 'epoch_2.pth' in os.readlink(f'/proc/self/fd/{fd}'):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, 'fsync', full_disk)
    cfg = toy.toy_cfg(tmp_path, max_epochs=2)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1)
    with pytest.raises(OSError) as err:
        CissRunner.from_cfg(cfg).train()
    assert err.value.errno == errno.ENOSPC
    message = str(err.value)
    target = tmp_path / 'epoch_2.pth'
    needed = int(message.split(' bytes needed')[0].rsplit(' ', 1)[1])
    assert f'No space left on device while writing {target}: {needed} bytes' in message
    assert needed > 1000  # the serialised checkpoint, not a chunk
    assert 'bytes free on that file system; no partial file is left' in message

    files = sorted(p.name for p in tmp_path.iterdir() if p.is_file() and p.suffix != '.py')
    assert files == ['epoch_1.pth', 'last_checkpoint']  # no temp file, previous kept
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_1.pth')

    monkeypatch.undo()
    cfg.resume = True
    runner = CissRunner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 2
    assert torch.load(tmp_path / 'epoch_2.pth', weights_only=True)['meta']['epoch'] == 2
