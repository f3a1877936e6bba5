"""tools/train.py and tools/test.py on a toy config (train, --resume, --out, --show-dir)."""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from cissreg.testing.tools import load_tool

REPO = Path(__file__).resolve().parents[2]


def _load_tool(name: str):
    return load_tool(f'{name}.py')


@pytest.fixture(scope='module')
def toy_config(tmp_path_factory) -> str:
    """A toy config (its ``custom_imports`` registers :mod:`cissreg.testing.toy_parts`)."""
    from cissreg.testing.toy_parts import write_toy_config
    return write_toy_config(tmp_path_factory.mktemp('toy_config'))


def _run_tool(monkeypatch, name: str, *argv: str) -> None:
    """Run ``tools/<name>.py argv...`` in this process (imports are already paid for)."""
    monkeypatch.setattr(sys, 'argv', [f'tools/{name}.py', *argv])
    _load_tool(name).main()


def test_train_resume_and_test(toy_config, tmp_path, monkeypatch):
    work_dir = tmp_path / 'work'
    # 1. train one epoch as a script, from the repository root
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO),
                                                       os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run(
        [sys.executable, 'tools/train.py', toy_config, '--work-dir', str(work_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'epoch_1.pth')
    epoch_1 = torch.load(work_dir / 'epoch_1.pth', weights_only=True)
    assert epoch_1['meta']['epoch'] == 1

    # 2. --resume (latest checkpoint) to two epochs
    _run_tool(monkeypatch, 'train', toy_config, '--work-dir', str(work_dir), '--resume',
              '--cfg-options', 'train_cfg.max_epochs=2')
    epoch_2 = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    assert epoch_2['meta']['epoch'] == 2 and epoch_2['meta']['iter'] == 8
    assert epoch_2['message_hub']['runtime_info']['epoch'] == 1  # continued, not restarted

    # 3. test the checkpoint, dumping predictions as JSON and as pickle
    for out in ('preds.json', 'preds.pkl'):
        _run_tool(monkeypatch, 'test', toy_config, str(work_dir / 'epoch_2.pth'), '--work-dir',
                  str(tmp_path / 'test'), '--out', str(tmp_path / out))
    with open(tmp_path / 'preds.json') as f:
        from_json = json.load(f)
    with open(tmp_path / 'preds.pkl', 'rb') as f:
        from_pickle = pickle.load(f)
    assert len(from_json) == len(from_pickle) == 8  # the 8-sample test set
    assert from_json == from_pickle
    assert {'pred', 'label'} == set(from_json[0])


def test_test_tool_refuses_mismatched_checkpoint(toy_config, tmp_path, monkeypatch):
    from cissreg.utils import CheckpointMismatchError
    torch.save({'state_dict': {'fc1.weight': torch.zeros(2, 2)}}, tmp_path / 'other.pth')
    with pytest.raises(CheckpointMismatchError, match='fc1.weight: checkpoint'):
        _run_tool(monkeypatch, 'test', toy_config, str(tmp_path / 'other.pth'), '--work-dir',
                  str(tmp_path / 'test'))


def _args(tool, *argv):
    sys_argv = sys.argv
    try:
        sys.argv = ['tool', *argv]
        return tool.parse_args()
    finally:
        sys.argv = sys_argv


def test_train_options_are_merged(toy_config, tmp_path, monkeypatch):
    train = _load_tool('train')
    monkeypatch.chdir(tmp_path)
    cfg = train.merge_args(Config.fromfile(toy_config),
                           _args(train, toy_config, '--resume', 'some/ckpt.pth',
                                 '--cfg-options', 'optim_wrapper.optimizer.lr=0.5'))
    assert cfg.work_dir == os.path.join('./work_dirs', 'toy_config')
    assert cfg.resume is True and cfg.load_from == 'some/ckpt.pth'
    assert cfg.optim_wrapper.optimizer.lr == 0.5
    assert cfg.launcher == 'none'


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only --amp message')
def test_amp_without_gpu_fails_clearly(toy_config):
    train = _load_tool('train')
    with pytest.raises(SystemExit, match='--amp needs a GPU'):
        train.merge_args(Config.fromfile(toy_config), _args(train, toy_config, '--amp'))


def test_show_dir_enables_visualization_hook_keeping_config_values(toy_config):
    test = _load_tool('test')
    cfg = Config.fromfile(toy_config)
    cfg.default_hooks.visualization = dict(type='DetVisualizationHook', score_thr=0.5,
                                           interval=3)
    cfg = test.merge_args(cfg, _args(test, toy_config, 'ckpt.pth', '--show-dir', 'vis'))
    assert cfg.default_hooks.visualization == dict(
        type='DetVisualizationHook', score_thr=0.5, interval=3, draw=True, show_dir='vis')
    assert cfg.load_from == 'ckpt.pth' and cfg.resume is False

    bare = test.trigger_visualization_hook(Config(dict(default_hooks=dict())), 'out')
    assert bare.default_hooks.visualization == dict(type='DetVisualizationHook', draw=True,
                                                    show_dir='out')


def test_dist_scripts_pass_launcher_and_port(tmp_path):
    """The torchrun command lines the scripts build (run with a stub python)."""
    stub = tmp_path / 'python'
    stub.write_text('#!/usr/bin/env bash\necho "$@"\n')
    stub.chmod(0o755)
    env = dict(os.environ, PYTHON=str(stub), PORT='29999', NNODES='2', NODE_RANK='1',
               MASTER_ADDR='10.0.0.1')
    train = subprocess.run(['bash', 'tools/dist_train.sh', 'cfg.py', '4', '--amp'], cwd=REPO,
                           env=env, capture_output=True, text=True, check=True).stdout.split()
    assert train[:2] == ['-m', 'torch.distributed.run']
    for flag in ('--nnodes=2', '--node_rank=1', '--master_addr=10.0.0.1',
                 '--nproc_per_node=4', '--master_port=29999'):
        assert flag in train
    assert train[-5:] == ['tools/train.py', 'cfg.py', '--launcher', 'pytorch', '--amp']
    test = subprocess.run(['bash', 'tools/dist_test.sh', 'cfg.py', 'c.pth', '2', '--out', 'o.pkl'],
                          cwd=REPO, env=env, capture_output=True, text=True,
                          check=True).stdout.split()
    assert test[-7:] == ['tools/test.py', 'cfg.py', 'c.pth', '--launcher', 'pytorch', '--out',
                         'o.pkl']
