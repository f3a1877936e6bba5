"""A distillation checkpoint loaded into the plain student points to export_student.py."""

import pytest
import torch

from cissreg.engine.runner import CissRunner
from cissreg.utils import CheckpointMismatchError


def _load(toy, tmp_path, state_dict):
    path = tmp_path / 'ckpt.pth'
    torch.save({'state_dict': state_dict}, path)
    cfg = toy.toy_cfg(tmp_path / 'work', max_epochs=1)
    cfg.load_from = str(path)
    with pytest.raises(CheckpointMismatchError) as err:
        CissRunner.from_cfg(cfg).load_or_resume()
    return path, str(err.value)


def test_distiller_checkpoint_points_to_the_student_exporter(toy, tmp_path):
    student = toy.ToyDropoutNet().state_dict()
    state = {f'student.{k}': v for k, v in student.items()}
    state['connectors.0.weight'] = torch.zeros(2, 2)
    path, message = _load(toy, tmp_path, state)
    assert 'student.fc1.weight' in message
    assert f'python tools/model_converters/export_student.py {path} STUDENT.pth' in message


def test_other_mismatches_get_no_exporter_hint(toy, tmp_path):
    _, message = _load(toy, tmp_path, {'fc1.weight': torch.zeros(2, 2)})
    assert 'export_student' not in message
