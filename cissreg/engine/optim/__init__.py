from .dkd_optim_constructor import DKDOptimWrapperConstructor, dkd_param_groups
from .nominal_batch_constructor import (NominalBatchOptimWrapperConstructor, fill_auto_cfg,
                                        nominal_batch_scaling, ultralytics_param_groups)
from .nominal_batch_optim_wrapper import NominalBatchAmpOptimWrapper, NominalBatchOptimWrapper
from .trainable_params_constructor import TrainableParamsOptimWrapperConstructor

__all__ = [
    'DKDOptimWrapperConstructor', 'dkd_param_groups',
    'NominalBatchOptimWrapperConstructor', 'NominalBatchOptimWrapper', 'fill_auto_cfg',
    'NominalBatchAmpOptimWrapper', 'nominal_batch_scaling', 'ultralytics_param_groups',
    'TrainableParamsOptimWrapperConstructor'
]
