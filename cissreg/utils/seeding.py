"""Seeds that are a pure function of a run's seed and its position (epoch, iteration, rank).

Used by :class:`~cissreg.engine.hooks.ResumableRandomnessHook` (reseeding at every resumable
position) and by ``CissRunner.build_dataloader`` (per-epoch data-loader worker seeds).
"""
import random
import warnings

import numpy as np
import torch
from torch.utils.data import get_worker_info


def derive_seed(seed: int, *position: int) -> int:
    """A 32-bit seed that depends on ``seed`` and the ``position`` tuple (epoch, iteration...).

    Args:
        seed (int): The run's seed (any size; reduced to 64 bits).
        *position (int): Where in the run the seed is drawn, e.g. ``(epoch, iter)``.

    Returns:
        int: A seed in ``[0, 2**32)``, different for different positions.
    """
    entropy = [int(seed) & 0xFFFFFFFFFFFFFFFF, *(int(p) for p in position)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def seed_all(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def worker_init_fn(worker_id: int, rank: int, disable_subprocess_warning: bool = False) -> None:
    """Seed a data-loader worker from torch's per-worker seed and the rank.

    Args:
        worker_id (int): Worker index (torch's worker seed already includes it).
        rank (int): Distributed rank, so ranks do not share augmentation streams.
        disable_subprocess_warning (bool): Silence warnings in workers other than 0.
    """
    seed_all(derive_seed(get_worker_info().seed, rank))
    if disable_subprocess_warning and worker_id != 0:
        warnings.simplefilter('ignore')
