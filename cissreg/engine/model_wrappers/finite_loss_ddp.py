"""``FiniteLossDistributedDataParallel``: DDP whose step can be skipped on a non-finite loss."""
from contextlib import nullcontext
from typing import Dict, Union

import torch
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper

from cissreg.models.base_model import NonFiniteLossError
from cissreg.registry import MODEL_WRAPPERS

__all__ = ['FiniteLossDistributedDataParallel']


@MODEL_WRAPPERS.register_module()
class FiniteLossDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that honours ``FiniteLossModel(skip_nonfinite=True)``.

    mmengine's ``train_step`` always back-propagates and steps. Here a
    :class:`NonFiniteLossError` from the module's ``parse_losses`` (raised on every rank at
    the same iteration: its finiteness flag is all-reduced) goes to the module's
    ``skip_step`` when ``skip_nonfinite`` is set: no backward and no step on any rank, the
    gradients zeroed. DDP's reducer only starts a reduction when a backward runs, so the
    next iteration synchronises as usual (with and without ``find_unused_parameters``).
    Non-finite gradients are caught by the module's ``gradient_guard`` after the all-reduce
    (identical on every rank). Everything else is mmengine's wrapper; ``CissRunner`` uses it
    for every distributed run without a ``model_wrapper_cfg``.
    """

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        try:
            guard = getattr(self.module, 'gradient_guard', None)
            with guard(optim_wrapper) if guard is not None else nullcontext():
                return super().train_step(data, optim_wrapper)
        except NonFiniteLossError as err:
            if not getattr(self.module, 'skip_nonfinite', False):
                raise
            return self.module.skip_step(err, optim_wrapper)
