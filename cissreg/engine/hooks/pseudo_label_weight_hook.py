"""Sets the GCD model's pseudo-label weight gamma from the training progress."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from cissreg.registry import HOOKS


def pseudo_label_weight(epoch: int, total_epochs: int, max_weight: float = 1.0) -> float:
    """``gamma = max_weight * epoch / (total_epochs - 1)``: 0 at the first epoch, ``max_weight``
    at the last one, linear in between (epochs 0-based)."""
    return max_weight * min(max(epoch / max(total_epochs - 1, 1), 0.0), 1.0)


def ramped_pseudo_label_weight(it: int, start_iter: int, end_iter: int,
                               max_weight: float = 1.0) -> float:
    """``gamma = max_weight * (it - start_iter) / (end_iter - start_iter)``, clipped to
    ``[0, max_weight]``: 0 before ``start_iter``, then linear per iteration (no jump)."""
    return max_weight * min(max((it - start_iter) / max(end_iter - start_iter, 1), 0.0), 1.0)


@HOOKS.register_module()
class PseudoLabelWeightHook(Hook):
    """Set ``model.pseudo_weight`` (gamma) from the runner's global epoch / iteration.

    Two schedules:

    * ``start_epoch=None``: before every train epoch,
      ``gamma = max_weight * epoch / (total_epochs - 1)`` (:func:`pseudo_label_weight`) - the
      reference recipe's linear 0 -> 1 over the whole schedule. Gamma is multiplied by a loss
      that is 0 until pseudo labels exist, so it jumps from 0 to its current value at the
      first pseudo-label epoch.
    * ``start_epoch=S``: before every train iteration,
      ``gamma = max_weight * (iter - S * iters_per_epoch) / ((total_epochs - S) *
      iters_per_epoch)`` (:func:`ramped_pseudo_label_weight`): 0 until epoch ``S`` (set it to
      the first clustering epoch, when pseudo labels first exist), then a smooth ramp that
      reaches ``max_weight`` at the end.

    The epoch / iteration is the runner's global one, so the value is right after a resume and
    in every stage of ``tools/pseudo_label_pipeline.py`` (each stage trains a part of one
    schedule whose ``max_epochs`` is the total).

    Args:
        total_epochs (int, optional): Defaults to the runner's ``max_epochs``.
        max_weight (float): Final gamma; 0 switches the pseudo-label term off (ablation).
            Defaults to 1.0.
        start_epoch (int, optional): Start of the per-iteration ramp. Defaults to None (the
            per-epoch schedule over the whole run).
    """

    priority = 'NORMAL'

    def __init__(self, total_epochs: Optional[int] = None, max_weight: float = 1.0,
                 start_epoch: Optional[int] = None) -> None:
        self.total_epochs = total_epochs
        self.max_weight = max_weight
        self.start_epoch = start_epoch

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train_epoch(self, runner) -> None:
        if self.start_epoch is None:
            total = self.total_epochs or runner.max_epochs
            self._model(runner).pseudo_weight = pseudo_label_weight(runner.epoch, total,
                                                                    self.max_weight)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self.start_epoch is not None:
            per_epoch = len(runner.train_dataloader)
            total = self.total_epochs or runner.max_epochs
            self._model(runner).pseudo_weight = ramped_pseudo_label_weight(
                runner.iter, self.start_epoch * per_epoch, total * per_epoch, self.max_weight)


@HOOKS.register_module()
class SelfSupervisedWarmupHook(Hook):
    """Train the GCD model self-supervised (InfoNCE only) for the first ``epochs`` epochs.

    Before every train epoch ``model.sup_con_weight`` (``w`` of
    ``L = (1 - w) L_contrast + w L_supcon + gamma L_pseudo``) is set to 0 while
    ``epoch < epochs`` and to the model's configured ``w`` afterwards, as GCD starts from a
    self-supervised backbone. The epoch is the runner's global one (right after a resume).

    Args:
        epochs (int): Self-supervised epochs. Defaults to 0 (off).
    """

    priority = 'NORMAL'

    def __init__(self, epochs: int = 0) -> None:
        self.epochs = epochs
        self._weight = None

    def before_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if self._weight is None:
            self._weight = float(model.sup_con_weight)
        model.sup_con_weight = 0.0 if runner.epoch < self.epochs else self._weight
