# DKD's optimisation: SGD (momentum 0.9, nesterov, wd 1e-4), head and classifiers at 10x the
# backbone lr, weight decay only on the new classifier in steps > 0, poly 0.9 per iteration.
base_lr, incremental_lr = 1e-3, 1e-4
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='DKDOptimWrapperConstructor',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, nesterov=True, weight_decay=1e-4),
    paramwise_cfg=dict(head_lr_mult=10.0, incremental_lr=incremental_lr))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, convert_to_iter_based=True)
]
