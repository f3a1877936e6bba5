"""Code stored in a checkpoint's meta never runs: resume, load_from, tools/train.py, tools/test.py.

The checkpoint holds only strings and tensors, so it passes ``weights_only`` loading; its
``meta['cfg']`` / ``meta['config']`` hold Python that creates a marker file when evaluated.
"""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from cissreg.engine.runner import CissRunner
from cissreg.engine.runner.saved_config import saved_config_value, saved_scheduler_types
from cissreg.utils import CheckpointMismatchError

REPO = Path(__file__).resolve().parents[2]


def _payload(marker: Path) -> str:
    return (f"_ = open({str(marker)!r}, 'w').write('ran')\n"
            "optim_wrapper = dict(optimizer=dict(type='SGD'))\n")


@pytest.fixture(scope='module')
def planted(toy, tmp_path_factory):
    """(work_dir with a one-epoch checkpoint whose meta holds code, marker path)."""
    work_dir = tmp_path_factory.mktemp('planted')
    cfg = toy.toy_cfg(work_dir, max_epochs=1)
    CissRunner.from_cfg(cfg).train()
    marker = work_dir / 'marker'
    checkpoint = torch.load(work_dir / 'epoch_1.pth', weights_only=True)
    checkpoint['meta']['cfg'] = checkpoint['meta']['config'] = _payload(marker)
    torch.save(checkpoint, work_dir / 'epoch_1.pth')
    torch.load(work_dir / 'epoch_1.pth', weights_only=True)  # weights-only safe
    return work_dir, marker


@pytest.fixture(autouse=True)
def no_marker(planted):
    """Each test starts without the marker (a failing test must not fail the next one)."""
    planted[1].unlink(missing_ok=True)


def _cfg(toy, work_dir: Path, **changes):
    cfg = toy.toy_cfg(work_dir, max_epochs=2)
    for key, value in changes.items():
        cfg[key] = value
    return cfg


def test_resume_does_not_run_the_saved_config(toy, planted):
    work_dir, marker = planted
    runner = CissRunner.from_cfg(_cfg(toy, work_dir, resume=True))
    runner.train()
    assert runner.epoch == 2
    assert not marker.exists()


def test_optimizer_mismatch_on_resume_does_not_run_the_saved_config(toy, planted, tmp_path):
    work_dir, marker = planted
    cfg = _cfg(toy, tmp_path, resume=True, load_from=str(work_dir / 'epoch_1.pth'),
               optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.01)))
    with pytest.raises(CheckpointMismatchError, match='saved by SGD, and the config builds '
                       'Adam'):
        CissRunner.from_cfg(cfg).train()
    assert not marker.exists()


def test_load_from_does_not_run_the_saved_config(toy, planted, tmp_path):
    work_dir, marker = planted
    cfg = _cfg(toy, tmp_path, load_from=str(work_dir / 'epoch_1.pth'))
    CissRunner.from_cfg(cfg).train()
    assert not marker.exists()


def _run_tool(monkeypatch, name: str, *argv: str) -> None:
    spec = importlib.util.spec_from_file_location(f'cissreg_tool_{name}',
                                                  REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, 'argv', [f'tools/{name}.py', *argv])
    module.main()


def test_tools_do_not_run_the_saved_config(toy, planted, tmp_path, monkeypatch):
    work_dir, marker = planted
    config = toy.write_toy_config(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    ckpt = str(work_dir / 'epoch_1.pth')
    _run_tool(monkeypatch, 'test', config, ckpt, '--work-dir', str(tmp_path / 'test'))
    resumed = tmp_path / 'resumed'
    _run_tool(monkeypatch, 'train', config, '--work-dir', str(resumed), '--resume', ckpt,
              '--cfg-options', 'train_cfg.max_epochs=2')
    assert torch.load(resumed / 'epoch_2.pth', weights_only=True)['meta']['epoch'] == 2
    assert not marker.exists()


def test_saved_config_values_are_read_as_data(tmp_path):
    marker = tmp_path / 'marker'
    text = _payload(marker) + (
        "gpu_ids = [0, 1]\n"
        "param_scheduler = [dict(type='LinearLR', begin=0), dict(type='MultiStepLR')]\n"
        "optim_wrapper = dict(optimizer=dict(type='AdamW', lr=__import__('os').getpid()))\n")
    assert saved_config_value(text, ('gpu_ids', )) == [0, 1]
    assert saved_config_value(text, ('optim_wrapper', 'optimizer', 'type')) == 'AdamW'
    # a non-literal value is not evaluated
    assert saved_config_value(text, ('optim_wrapper', 'optimizer', 'lr'), 'n/a') == 'n/a'
    assert saved_config_value(text, ('optim_wrapper', 'optimizer'), 'n/a') == 'n/a'
    assert saved_scheduler_types(text) == ['LinearLR', 'MultiStepLR']
    assert saved_config_value('def (:', ('gpu_ids', )) is None
    assert saved_config_value(None, ('gpu_ids', )) is None
    assert not marker.exists()


def test_export_student_does_not_run_the_saved_config(tmp_path):
    from cissreg.models.distillers.export import STUDENT_PREFIX
    spec = importlib.util.spec_from_file_location(
        'cissreg_tool_export_student', REPO / 'tools' / 'model_converters' / 'export_student.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    marker = tmp_path / 'marker'
    src = tmp_path / 'distill.pth'
    torch.save(dict(state_dict={f'{STUDENT_PREFIX}fc.weight': torch.ones(2, 2)},
                    meta=dict(cfg=_payload(marker), config=_payload(marker))), src)
    exported = tool.export_student(str(src), str(tmp_path / 'student.pth'))
    assert list(exported['state_dict']) == ['fc.weight']
    assert not marker.exists()
