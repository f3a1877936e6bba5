"""Test-session settings.

One intra-op thread per process: the suite's tensors are tiny, several tests start worker
processes (DDP on gloo, dataloaders, tools as subprocesses), and OpenMP threads that outnumber
the cores spin against each other (10-40x slowdowns measured on a 2-core machine).
"""
import os

os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MKL_NUM_THREADS', '1')

import torch  # noqa: E402

torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))
