"""A toy run that blocks at a chosen file operation, for the SIGKILL tests.

``python -m cissreg.testing.kill_parts WORK_DIR`` trains the toy config for 3 epochs.
``PAUSE_AT=kind:name[:n]`` makes the ``n``-th matching file operation block after creating
``WORK_DIR/../paused``, so a test can SIGKILL the process exactly there:

* ``write:NAME`` blocks in ``os.fsync`` of a file whose name contains NAME (the data is in a
  temp file that has not been renamed yet: a kill here is a kill during that write);
* ``remove:NAME`` blocks before mmengine's file backend removes a file whose name contains NAME.

The validation score is a fixed function of the epoch (``EpochScore.scores``: 0.5, 0.9, 0.6),
so an uninterrupted run's only best checkpoint is the one of epoch 2.
"""
import os
import os.path as osp
import sys
import time
import uuid

from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.fileio import LocalBackend
from mmengine.logging import MessageHub

from cissreg.registry import METRICS
from cissreg.testing import toy_parts as toy


@METRICS.register_module(force=True)
class EpochScore(BaseMetric):
    """``scores[epoch]`` after each epoch (whatever the model predicts)."""

    scores = {1: 0.5, 2: 0.9, 3: 0.6}

    def process(self, data_batch, data_samples) -> None:
        self.results.append(0)

    def compute_metrics(self, results) -> dict:
        epoch = MessageHub.get_current_instance().get_info('epoch') + 1
        return dict(score=self.scores[epoch])


def kill_cfg(work_dir: str, resume: bool = False) -> Config:
    """Toy config, 3 epochs, best checkpoint by ``score``, one epoch checkpoint kept."""
    cfg = toy.toy_cfg(work_dir, max_epochs=3)
    cfg.val_evaluator = dict(type='EpochScore')
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1,
                                        max_keep_ckpts=1, save_best='score', rule='greater')
    cfg.custom_hooks = []
    cfg.resume = resume
    cfg.experiment_name = uuid.uuid4().hex  # own logger (and log file) per runner
    return cfg


def install_pause(spec: str, marker: str) -> None:
    """Make the file operation that ``spec`` names block forever after creating ``marker``."""
    kind, what, *nth = spec.split(':')
    nth = int(nth[0]) if nth else 1
    seen = [0]

    def reached(name: str) -> bool:
        if what in osp.basename(name):
            seen[0] += 1
            if seen[0] == nth:
                open(marker, 'w').close()
                time.sleep(600)
        return False

    if kind == 'write':
        real_fsync = os.fsync
        os.fsync = lambda fd: reached(os.readlink(f'/proc/self/fd/{fd}')) or real_fsync(fd)
    else:
        real_remove = LocalBackend.remove
        LocalBackend.remove = lambda self, path: reached(str(path)) or real_remove(self, path)


if __name__ == '__main__':
    from cissreg.engine.runner import CissRunner
    work_dir = sys.argv[1]
    install_pause(os.environ['PAUSE_AT'], osp.join(osp.dirname(work_dir), 'paused'))
    CissRunner.from_cfg(kill_cfg(work_dir)).train()
