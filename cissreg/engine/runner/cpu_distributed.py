"""Process-group set-up for distributed training on CPUs (gloo), and its tear-down.

mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` for the ``pytorch`` and
``slurm`` launchers, which fails on a machine without GPUs; these functions do the same
environment handling and initialise a gloo group instead. mmengine never destroys the group;
:func:`close_dist` does, at the end of ``tools/train.py`` and ``tools/test.py``.
"""
import datetime
import os
import subprocess
from typing import Optional

import torch.distributed as torch_dist


def init_cpu_dist(launcher: str, timeout: Optional[float] = None,
                  port: Optional[int] = None) -> None:
    """Initialise the default process group with the gloo backend.

    Args:
        launcher (str): ``'pytorch'`` (torchrun sets ``RANK``, ``WORLD_SIZE``,
            ``MASTER_ADDR``, ``MASTER_PORT``, ``LOCAL_RANK``) or ``'slurm'`` (``SLURM_*``
            variables; the first node of ``SLURM_NODELIST`` is the master).
        timeout (float, optional): Collective timeout in seconds.
        port (int, optional): Master port for slurm; else ``MASTER_PORT`` or 29500.

    Raises:
        ValueError: Another launcher (mpi: use the GPU path or torchrun).
    """
    if launcher == 'slurm':
        _export_slurm_env(port)
    elif launcher != 'pytorch':
        raise ValueError(f'CPU distributed training supports the launchers "pytorch" and '
                         f'"slurm", got {launcher!r}')
    kwargs = {}
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    torch_dist.init_process_group(
        backend='gloo',
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
        **kwargs)


def close_dist() -> None:
    """Destroy the default process group, if any, once every rank has reached this point.

    A gloo group left for the interpreter's shutdown can abort a rank after its work is done
    (``terminate called without an active exception``, SIGABRT), failing a finished run.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def _export_slurm_env(port: Optional[int]) -> None:
    """Translate ``SLURM_*`` variables into the ones ``init_process_group`` reads."""
    proc_id = int(os.environ['SLURM_PROCID'])
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = str(proc_id)
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        node_list = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')
