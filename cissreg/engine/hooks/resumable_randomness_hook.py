"""Hook that makes the random state one a resumed run reproduces exactly.

mmengine seeds the RNGs once at start-up and does not save their state in checkpoints, so a
run resumed at epoch ``k`` draws different dropout masks, augmentations and worker seeds than
the uninterrupted run did from epoch ``k`` on. Here the state at every point that a checkpoint
can resume from is a pure function of the run's seed and position:

* epoch-based loops: python / numpy / torch RNGs are reseeded from ``(seed, epoch, iter)`` at
  the start of every epoch (before the data loader creates its iterator and workers; ``iter``
  keeps loops that restart the epoch count, e.g. per task, from repeating seeds);
* iteration-based loops: they are reseeded from ``(seed, n)`` before the ``n``-th batch is
  fetched (mmengine replays the fetches when it resumes, so the count matches);
* data-loader workers (seeded by :func:`cissreg.utils.seeding.worker_init_fn`, which
  ``CissRunner.build_dataloader`` installs) seed numpy / random from torch's per-worker seed
  (drawn from the reseeded torch RNG) and the rank, instead of mmengine's fixed
  ``seed + worker_id`` that repeats the same augmentations every epoch when workers are not
  persistent.

Persistent workers keep their RNG across epochs, which a resumed run cannot rebuild: use
``persistent_workers=False`` for bit-exact resumption.
"""
from typing import Any, Iterator

from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop

from cissreg.utils.seeding import derive_seed, seed_all


class _ReseedingIterator:
    """Iterator proxy that reseeds all RNGs before fetching each item."""

    def __init__(self, iterator: Iterator, seed: int) -> None:
        self._iterator = iterator
        self._seed = seed
        self._count = 0

    def __iter__(self) -> '_ReseedingIterator':
        return self

    def __next__(self) -> Any:
        seed_all(derive_seed(self._seed, self._count))
        self._count += 1
        return next(self._iterator)


class ResumableRandomnessHook(Hook):
    """Reseeds the RNGs at every resumable position (see the module docstring).

    ``CissRunner`` registers it with priority ``HIGHEST`` so that no other hook draws random
    numbers at the start of an epoch before the reseed.
    """

    priority = 'HIGHEST'

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            loop.dataloader_iterator = _ReseedingIterator(loop.dataloader_iterator, runner.seed)

    def before_train_epoch(self, runner) -> None:
        if not isinstance(runner.train_loop, IterBasedTrainLoop):
            seed_all(derive_seed(runner.seed, runner.epoch, runner.iter))
