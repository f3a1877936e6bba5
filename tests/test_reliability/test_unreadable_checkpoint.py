"""A truncated / random / text / empty .pth: one message naming the file and size (item 6)."""
import os
from pathlib import Path

import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint

from cissreg.engine.runner import CissRunner

UNREADABLE = 'is not a readable PyTorch checkpoint (truncated or not a checkpoint)'


def _make(kind: str, path: Path) -> None:
    good = path.with_suffix('.good')
    torch.save({'state_dict': {'w': torch.ones(1000)}}, good)
    data = good.read_bytes()
    content = {
        'truncated': data[:len(data) // 2],
        'random': bytes(range(256)) * 20,
        'text': b'this is a config file, not a checkpoint\n' * 10,
        'empty': b'',
    }[kind]
    path.write_bytes(content)


@pytest.mark.parametrize('kind', ['truncated', 'random', 'text', 'empty'])
def test_unreadable_file_gets_one_message_without_unsafe_advice(tmp_path, kind):
    path = tmp_path / 'epoch_3.pth'
    _make(kind, path)
    with pytest.raises(RuntimeError) as err:
        _load_checkpoint(str(path))
    message = str(err.value)
    assert message.startswith(f'{path} {UNREADABLE}: {os.path.getsize(path)} bytes')
    assert 'weights_only=False' not in message and 'trust' not in message


def test_runner_load_from_names_the_file(toy, tmp_path):
    path = tmp_path / 'broken.pth'
    _make('truncated', path)
    cfg = toy.toy_cfg(tmp_path / 'work', max_epochs=1)
    cfg.load_from = str(path)
    with pytest.raises(RuntimeError, match=f'{path} is not a readable PyTorch checkpoint'):
        CissRunner.from_cfg(cfg).load_or_resume()
