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


def test_plain_pickle_is_called_unsafe_not_truncated(tmp_path):
    import pickle

    from cissreg.utils.safe_load import UnsafeCheckpointError
    path = tmp_path / 'model.pkl'
    with open(path, 'wb') as f:
        pickle.dump({'state_dict': {'w': [1.0, 2.0]}}, f)
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint(str(path))
    assert str(err.value).startswith(f'{path} is a plain pickle file, not a torch.save '
                                     'checkpoint: loading it could run any code it names')
    assert UNREADABLE not in str(err.value)
    path.write_bytes(path.read_bytes()[:-3])  # a truncated pickle is still "truncated"
    with pytest.raises(RuntimeError, match=UNREADABLE.replace('(', r'\(').replace(')', r'\)')):
        _load_checkpoint(str(path))


def test_non_strict_load_refuses_a_checkpoint_that_matches_no_tensor(toy, tmp_path):
    """load_from_strict=False with 0 matching tensors would test (tools/test.py loads through
    the same load_checkpoint) or fine-tune random weights."""
    from cissreg.utils import CheckpointMismatchError
    torch.save({'state_dict': {'backbone.conv.weight': torch.zeros(2, 2)}}, tmp_path / 'o.pth')
    cfg = toy.toy_cfg(tmp_path / 'work', max_epochs=1)
    cfg.load_from, cfg.load_from_strict = str(tmp_path / 'o.pth'), False
    cfg.custom_hooks = []
    with pytest.raises(CheckpointMismatchError, match=rf'checkpoint {tmp_path / "o.pth"}: none '
                       'of its 1 entries matches a tensor of the model ToyDropoutNet'):
        CissRunner.from_cfg(cfg).load_or_resume()
    # one matching tensor: a partial load, with the warning
    torch.save({'state_dict': {'fc1.bias': torch.ones(8)}}, tmp_path / 'o.pth')
    runner = CissRunner.from_cfg(cfg)
    runner.load_or_resume()
    assert torch.equal(runner.model.fc1.bias, torch.ones(8))
