"""Freezing and unfreezing a sub-module during training.

Freezing here means: every parameter gets ``requires_grad=False`` and its ``.grad`` cleared, and
every batch-norm layer is put in eval mode so that its running statistics stop moving. Unfreezing
restores each parameter's own ``requires_grad`` (parameters frozen before, e.g. by a backbone's
``frozen_stages``, stay frozen) and puts the batch-norm layers back in train mode.

Optimizers built before freezing may keep the frozen parameters: torch optimizers (SGD, Adam,
AdamW, ...) skip a parameter whose ``grad`` is ``None``, so neither the update nor weight decay
touches it, and no momentum / Adam state is created for it while frozen. After unfreezing, a
parameter that never had a gradient starts with fresh optimizer state (momentum buffer created at
its first step, Adam's step counter at 1 for it).
"""
from typing import Dict, List

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['freeze_module', 'unfreeze_module', 'set_bn_eval', 'batch_norm_layers']


def batch_norm_layers(module: nn.Module) -> List[_BatchNorm]:
    """Return every batch-norm layer (BatchNorm1d/2d/3d, SyncBatchNorm, ...) inside ``module``.

    Args:
        module (nn.Module): The module to search, itself included.

    Returns:
        list[_BatchNorm]: The batch-norm layers in ``module.modules()`` order.
    """
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


def set_bn_eval(module: nn.Module) -> None:
    """Put every batch-norm layer of ``module`` in eval mode (running stats frozen).

    ``nn.Module.train()`` switches them back, so callers re-apply this after each ``train()``.

    Args:
        module (nn.Module): The module whose batch-norm layers are switched to eval.
    """
    for bn in batch_norm_layers(module):
        bn.eval()


def freeze_module(module: nn.Module) -> Dict[str, bool]:
    """Freeze ``module``: parameters stop requiring grad, batch-norm layers go to eval mode.

    Gradients already stored on the parameters are cleared (set to ``None``) so that an optimizer
    step does not apply them, nor weight decay or momentum, while the module is frozen.

    Args:
        module (nn.Module): The module to freeze.

    Returns:
        dict[str, bool]: ``requires_grad`` of every named parameter before freezing, to be passed
        to :func:`unfreeze_module`.
    """
    previous = {name: p.requires_grad for name, p in module.named_parameters()}
    for p in module.parameters():
        p.requires_grad_(False)
        p.grad = None
    set_bn_eval(module)
    return previous


def unfreeze_module(module: nn.Module, previous: Dict[str, bool]) -> None:
    """Undo :func:`freeze_module`.

    Each parameter gets back the ``requires_grad`` it had before freezing (a parameter missing
    from ``previous`` is made trainable), and ``module.train(module.training)`` is called so that
    batch-norm layers follow the module's mode through its own ``train()`` (which keeps e.g. a
    backbone's ``norm_eval`` / ``frozen_stages`` behaviour).

    Args:
        module (nn.Module): The module frozen by :func:`freeze_module`.
        previous (dict[str, bool]): The value :func:`freeze_module` returned.
    """
    for name, p in module.named_parameters():
        p.requires_grad_(previous.get(name, True))
    module.train(module.training)
