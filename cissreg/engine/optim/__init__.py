from .dkd_optim_constructor import DKDOptimWrapperConstructor, dkd_param_groups
from .nominal_batch_constructor import (NominalBatchOptimWrapperConstructor, nominal_batch_scaling,
                                        ultralytics_param_groups)
from .nominal_batch_optim_wrapper import NominalBatchAmpOptimWrapper, NominalBatchOptimWrapper
from .trainable_params_constructor import TrainableParamsOptimWrapperConstructor

__all__ = [
    'DKDOptimWrapperConstructor', 'dkd_param_groups',
    'NominalBatchOptimWrapperConstructor', 'NominalBatchOptimWrapper',
    'NominalBatchAmpOptimWrapper', 'nominal_batch_scaling', 'ultralytics_param_groups',
    'TrainableParamsOptimWrapperConstructor'
]
