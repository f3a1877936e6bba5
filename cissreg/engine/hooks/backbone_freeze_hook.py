"""A hook that keeps a sub-module (the backbone by default) frozen for the first epochs."""
from typing import Dict, List, Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from cissreg.models.utils import batch_norm_layers, freeze_module, unfreeze_module
from cissreg.registry import HOOKS

__all__ = ['BackboneFreezeHook']


@HOOKS.register_module()
class BackboneFreezeHook(Hook):
    """Freeze a sub-module of the model for the first ``freeze_epochs`` epochs, then unfreeze it.

    While frozen (epochs ``0 .. freeze_epochs - 1``, 0-based, as ``runner.epoch``), the
    sub-module's parameters have ``requires_grad=False`` (and no ``.grad``) and its batch-norm
    layers stay in eval mode, so neither its weights nor its running statistics change. The
    runner calls ``model.train()`` at every epoch start, after ``before_train_epoch``; this hook
    therefore puts the batch-norm layers back in eval mode before every training iteration. At
    the start of epoch ``freeze_epochs`` each parameter gets back its own ``requires_grad`` and
    the sub-module its train mode. The decision depends only on ``runner.epoch``, so a resumed
    run freezes / unfreezes exactly like an uninterrupted one.

    The optimizer may be built with the frozen parameters: optimizers skip parameters whose
    ``grad`` is ``None`` (no update, no weight decay, no momentum state) until they are unfrozen
    (see :mod:`cissreg.models.utils.freeze`). Under DistributedDataParallel, parameters that get
    no gradient need ``find_unused_parameters = True`` in the config (or in
    ``model_wrapper_cfg``); the hook checks it before training.

    Args:
        freeze_epochs (int): Number of epochs the sub-module stays frozen. 0 disables the hook.
        module (str): Dotted path of the sub-module in the unwrapped model (``runner.model``, or
            ``runner.model.module`` under a model wrapper). Defaults to ``'backbone'``.
    """

    priority = 'NORMAL'

    def __init__(self, freeze_epochs: int, module: str = 'backbone') -> None:
        if not isinstance(freeze_epochs, int) or freeze_epochs < 0:
            raise ValueError(
                f'BackboneFreezeHook: freeze_epochs must be an int >= 0, got {freeze_epochs!r}')
        self.freeze_epochs = freeze_epochs
        self.module = module
        self._previous_requires_grad: Optional[Dict[str, bool]] = None
        self._frozen_bns: List[_BatchNorm] = []

    def _target(self, runner) -> nn.Module:
        """Return the sub-module named by ``self.module`` in the unwrapped model."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        try:
            return model.get_submodule(self.module)
        except AttributeError as err:
            children = [name for name, _ in model.named_children()]
            raise ValueError(
                f'BackboneFreezeHook: {type(model).__name__} has no sub-module '
                f'{self.module!r} (module={self.module!r}); its children are {children}') from err

    def before_train(self, runner) -> None:
        """Check that the training loop counts epochs and that DDP tolerates unused params."""
        if self.freeze_epochs == 0:
            return
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            raise TypeError(
                'BackboneFreezeHook counts epochs, but the train loop is IterBasedTrainLoop '
                '(runner.epoch stays 0): use an epoch-based train_cfg (by_epoch=True)')
        if isinstance(runner.model, DistributedDataParallel) and \
                not runner.model.find_unused_parameters:
            raise ValueError(
                'BackboneFreezeHook: the frozen parameters get no gradient, which '
                'DistributedDataParallel only accepts with find_unused_parameters=True: set '
                '`find_unused_parameters = True` in the config (or model_wrapper_cfg=dict('
                "type='MMDistributedDataParallel', find_unused_parameters=True))")
        self._target(runner)

    def before_train_epoch(self, runner) -> None:
        """Freeze the sub-module for epochs < ``freeze_epochs``, unfreeze it at that epoch."""
        frozen = self._previous_requires_grad is not None
        if runner.epoch < self.freeze_epochs and not frozen:
            target = self._target(runner)
            self._previous_requires_grad = freeze_module(target)
            self._frozen_bns = batch_norm_layers(target)
            runner.logger.info(
                f'BackboneFreezeHook: {self.module} frozen (requires_grad=False, BN eval) '
                f'until epoch {self.freeze_epochs}')
        elif runner.epoch >= self.freeze_epochs and frozen:
            unfreeze_module(self._target(runner), self._previous_requires_grad)
            self._previous_requires_grad = None
            self._frozen_bns = []
            runner.logger.info(f'BackboneFreezeHook: {self.module} unfrozen at epoch '
                               f'{runner.epoch}')

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[Sequence[dict]] = None) -> None:
        """Put the frozen batch-norm layers back in eval mode after the runner's ``train()``."""
        for bn in self._frozen_bns:
            bn.eval()
