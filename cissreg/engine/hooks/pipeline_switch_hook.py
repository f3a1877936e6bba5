"""``PipelineSwitchHook``: a different training pipeline for the last epochs (close-mosaic)."""
from typing import Optional, Sequence

from mmengine.dataset import Compose
from mmengine.hooks import Hook

from cissreg.registry import HOOKS

__all__ = ['PipelineSwitchHook']


def _datasets(dataset) -> list:
    """The dataset and every dataset it wraps (mmengine Concat / Repeat / ClassBalanced)."""
    found = [dataset]
    for child in getattr(dataset, 'datasets', []) or []:
        found.extend(_datasets(child))
    if getattr(dataset, 'dataset', None) is not None:
        found.extend(_datasets(dataset.dataset))
    return found


@HOOKS.register_module()
class PipelineSwitchHook(Hook):
    """Replace the training pipeline from epoch ``max_epochs - close_epochs`` on.

    ultralytics' ``close_mosaic``: the last ``close_epochs`` epochs train without mosaic,
    mixup and copy-paste. As there, the switch epoch is ``max_epochs - close_epochs`` (from the
    train loop, so a child config changes ``max_epochs`` only) and a run with
    ``max_epochs < close_epochs`` (or ``close_epochs = 0``) never switches.

    The switch happens in ``before_train_epoch``, before the epoch's data iterator starts:
    non-persistent workers are forked again with the new pipeline; persistent workers hold
    their own copy of the dataset, so their iterator is dropped and rebuilt. After a resume
    into the last epochs the pipeline is switched at the first epoch.

    Args:
        switch_pipeline (Sequence[dict]): The pipeline of the last epochs.
        close_epochs (int): Number of final epochs with ``switch_pipeline``. Defaults to 10.
        switch_epoch (int, optional): Absolute epoch (0-based) to switch at instead.
            Defaults to None.
    """

    priority = 'NORMAL'

    def __init__(self, switch_pipeline: Sequence[dict], close_epochs: int = 10,
                 switch_epoch: Optional[int] = None) -> None:
        self.switch_pipeline = list(switch_pipeline)
        self.close_epochs = close_epochs
        self.switch_epoch = switch_epoch
        self.switched = False

    def _switch_epoch(self, runner) -> Optional[int]:
        if self.switch_epoch is not None:
            return self.switch_epoch
        epoch = runner.max_epochs - self.close_epochs
        return epoch if self.close_epochs > 0 and epoch >= 0 else None

    def before_train_epoch(self, runner) -> None:
        """Switch once ``runner.epoch`` reaches the switch epoch."""
        switch_epoch = self._switch_epoch(runner)
        if self.switched or switch_epoch is None or runner.epoch < switch_epoch:
            return
        loader = runner.train_dataloader
        for dataset in _datasets(loader.dataset):
            if hasattr(dataset, 'pipeline'):
                dataset.pipeline = Compose(self.switch_pipeline)
        if getattr(loader, 'persistent_workers', False):
            loader._iterator = None  # workers restart with the new pipeline
        self.switched = True
        runner.logger.info(f'PipelineSwitchHook: epoch {runner.epoch} onwards uses the '
                           f'switched pipeline ({len(self.switch_pipeline)} transforms)')
