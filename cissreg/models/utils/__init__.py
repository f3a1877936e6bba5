from .freeze import batch_norm_layers, freeze_module, set_bn_eval, unfreeze_module

__all__ = ['batch_norm_layers', 'freeze_module', 'set_bn_eval', 'unfreeze_module']
