# DKD on ADE20K 100-50 overlap: 100 epochs per step, batch 24, lr 2.5e-3 / 2.5e-4,
# pos_weight 35, linear warm-up over the first 20 % then poly.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/dkd_deeplabv3_r101.py',
    '../_base_/datasets/ade20k_ciss.py', '../_base_/schedules/dkd_sgd_poly.py'
]
# ---- frequently changed
task_sizes, setting = [100, 50], 'overlap'  # the 100-50 setting
epochs = 100

model = dict(task_sizes=task_sizes, base_pos_weight=None,
             loss_mbce=dict(pos_weight=35.0))
train_cfg = dict(
    type='IncrementalLoop',
    task_split=dict(type='CISSTaskSplit', setting=setting,  # steps: model.task_sizes
                    cache_dir='work_dirs/ciss_splits'),
    stages=dict(step=dict(max_epochs=epochs)))
optim_wrapper = dict(optimizer=dict(lr=2.5e-3), paramwise_cfg=dict(incremental_lr=2.5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=epochs // 5,
         convert_to_iter_based=True),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=epochs // 5, end=epochs,
         convert_to_iter_based=True)
]
default_hooks = dict(checkpoint=dict(max_keep_ckpts=2),
                     old_model=dict(type='OldModelResumeHook'))
