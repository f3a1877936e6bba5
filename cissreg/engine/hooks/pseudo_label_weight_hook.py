"""Sets the GCD model's pseudo-label weight gamma from the global epoch."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from cissreg.registry import HOOKS


def pseudo_label_weight(epoch: int, total_epochs: int, max_weight: float = 1.0) -> float:
    """``gamma = max_weight * epoch / (total_epochs - 1)``: 0 at the first epoch, ``max_weight``
    at the last one, linear in between (epochs 0-based)."""
    return max_weight * min(max(epoch / max(total_epochs - 1, 1), 0.0), 1.0)


@HOOKS.register_module()
class PseudoLabelWeightHook(Hook):
    """Before every train epoch, set ``model.pseudo_weight`` to :func:`pseudo_label_weight`.

    The epoch is the runner's global one, so the value is right after a resume and in every
    stage of ``tools/pseudo_label_pipeline.py`` (each stage trains a part of one schedule whose
    ``max_epochs`` is the total).

    Args:
        total_epochs (int, optional): Defaults to the runner's ``max_epochs``.
        max_weight (float): Final gamma; 0 switches the pseudo-label term off (ablation).
            Defaults to 1.0.
    """

    priority = 'NORMAL'

    def __init__(self, total_epochs: Optional[int] = None, max_weight: float = 1.0) -> None:
        self.total_epochs = total_epochs
        self.max_weight = max_weight

    def before_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        total = self.total_epochs or runner.max_epochs
        model.pseudo_weight = pseudo_label_weight(runner.epoch, total, self.max_weight)
