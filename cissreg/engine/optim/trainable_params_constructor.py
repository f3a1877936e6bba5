"""Optimizer wrapper constructor that hands the optimizer trainable parameters only."""
import inspect

from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from torch import nn

from cissreg.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TrainableParamsOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, minus every parameter with ``requires_grad=False``.

    mmengine puts frozen parameters (a LoRA model's base weights, an EMA teacher) into the
    optimizer's groups too; here they are left out, so they never get optimizer state and an
    EMA teacher is provably outside the optimizer. ``paramwise_cfg`` works as in mmengine.
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        """Build the optimizer wrapper of ``model``'s trainable parameters."""
        if hasattr(model, 'module'):
            model = model.module
        optim_wrapper_cfg = self.optim_wrapper_cfg.copy()
        optim_wrapper_cfg.setdefault('type', 'OptimWrapper')
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cls = optimizer_cfg['type']
        if isinstance(optimizer_cls, str):
            with OPTIMIZERS.switch_scope_and_registry(None) as registry:
                optimizer_cls = registry.get(optimizer_cls)
        first_arg = next(iter(inspect.signature(optimizer_cls).parameters))
        if not self.paramwise_cfg:
            params = [p for p in model.parameters() if p.requires_grad]
        else:
            groups: list = []
            self.add_params(groups, model)
            params = [g for g in groups if g['params'][0].requires_grad]
        if not params:
            raise ValueError(f'{type(model).__name__} has no parameter with requires_grad=True')
        optimizer_cfg[first_arg] = params
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        return OPTIM_WRAPPERS.build(optim_wrapper_cfg, default_args=dict(optimizer=optimizer))
