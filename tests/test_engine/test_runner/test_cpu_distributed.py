"""Distributed training on CPUs: gloo process group and DDP without device_ids."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from mmengine.model import MMDistributedDataParallel

from cissreg.engine.runner import CissRunner
from cissreg.engine.runner.cpu_distributed import close_dist, init_cpu_dist

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(torch.cuda.is_available(),
                                reason='tests the CPU-only (gloo) path; GPUs take the nccl path')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_single_process_pytorch_launcher_on_cpu(toy, tmp_path, monkeypatch):
    """launcher='pytorch' without GPUs: mmengine's init_dist would call torch.cuda.set_device."""
    for key, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(_free_port())).items():
        monkeypatch.setenv(key, value)
    cfg = toy.toy_cfg(tmp_path, max_epochs=1)
    cfg.launcher = 'pytorch'
    cfg.env_cfg = dict(dist_cfg=dict(backend='nccl', timeout=60))
    try:
        runner = CissRunner.from_cfg(cfg)
        assert dist.is_initialized() and dist.get_backend() == 'gloo'
        assert isinstance(runner.model, MMDistributedDataParallel)
        assert runner.model.device_ids is None
        runner.train()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    state_dict = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)['state_dict']
    assert 'fc1.weight' in state_dict  # saved unwrapped, no "module." prefix


def test_slurm_environment_on_cpu(monkeypatch):
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    for key, value in dict(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_LOCALID='0',
                           SLURM_NODELIST='node[1-4]', MASTER_ADDR='127.0.0.1').items():
        monkeypatch.setenv(key, value)
    port = _free_port()
    try:
        init_cpu_dist('slurm', timeout=60, port=port)
        assert dist.get_backend() == 'gloo' and dist.get_world_size() == 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    assert (os.environ['RANK'], os.environ['WORLD_SIZE'], os.environ['MASTER_PORT']) == (
        '0', '1', str(port))


def test_close_dist_destroys_the_group_and_is_a_no_op_without_one(monkeypatch):
    for key, value in dict(RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(_free_port())).items():
        monkeypatch.setenv(key, value)
    close_dist()  # no group: nothing to do, no error
    init_cpu_dist('pytorch', timeout=60)
    try:
        assert dist.is_initialized()
        close_dist()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_unsupported_cpu_launcher_is_named():
    with pytest.raises(ValueError, match='"pytorch" and "slurm", got \'mpi\''):
        init_cpu_dist('mpi')


def test_sync_batchnorm_is_reverted_on_cpu(toy, tmp_path, monkeypatch):
    for key, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(_free_port())).items():
        monkeypatch.setenv(key, value)
    cfg = toy.toy_cfg(tmp_path, max_epochs=1)
    cfg.launcher = 'pytorch'
    cfg.sync_bn = 'torch'
    cfg.model.sync_bn = True
    try:
        runner = CissRunner.from_cfg(cfg)
        assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in runner.model.modules())
        runner.train()  # SyncBatchNorm would raise on CPU tensors
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_dist_train_sh_two_cpu_processes(toy, tmp_path):
    """tools/dist_train.sh CONFIG 2 on CPUs: both ranks train and stay synchronised."""
    config = toy.write_toy_config(tmp_path)
    work_dir = tmp_path / 'work'
    env = dict(os.environ, PORT=str(_free_port()), PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get('PYTHONPATH', '')]),
               OMP_NUM_THREADS='1')
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(work_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    ranks = [torch.load(work_dir / f'rank{r}_weights.pth', weights_only=True) for r in (0, 1)]
    assert [r['world_size'] for r in ranks] == [2, 2]
    assert [r['wrapper'] for r in ranks] == ['FiniteLossDistributedDataParallel'] * 2
    checkpoint = torch.load(work_dir / 'epoch_1.pth', weights_only=True)
    initial = toy.ToyDropoutNet().state_dict()  # seed-independent check: weights moved
    parameters = [name for name, _ in toy.ToyDropoutNet().named_parameters()]
    for key, value in ranks[0]['state_dict'].items():
        assert torch.equal(value, checkpoint['state_dict'][key]), key  # rank 0 saves
    for key in parameters:
        # DDP keeps the parameters identical although each rank saw a different half of the
        # data (BN running statistics stay per rank: broadcast_buffers=False, as in mmengine)
        assert torch.equal(ranks[0]['state_dict'][key], ranks[1]['state_dict'][key]), key
    assert not torch.equal(ranks[0]['state_dict']['fc1.weight'], initial['fc1.weight'])
    # 16 samples, batch 4, 2 ranks -> 2 iterations per rank in the epoch
    assert checkpoint['meta']['iter'] == 2
