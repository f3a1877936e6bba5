# DKD on the embedded shapes data: 4 base classes, then 1 class per step (3 steps). A light
# ResNet-18 (3 stages, output stride 8, from scratch) with a 128-channel ASPP head on 32 px
# images: all steps on CPU, no download (see docs/en/methods/ciss.md). The steps use DKD's
# scale of learning rate (1e-3, head 1e-2) for 450 epochs of 3-4 iterations (a step trains on
# the images holding its class), chosen on a selection set over 300 epochs and over 2x the
# rate: `python benchmarks/ciss_shapes_experiments.py select`.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/dkd_deeplabv3_r101.py',
    '../_base_/datasets/shapes_ciss.py', '../_base_/schedules/dkd_sgd_poly.py'
]
# ---- frequently changed
task_sizes, setting = [4, 1, 1], 'overlap'  # the 4-1 setting
base_epochs, step_epochs = 30, 450
head_channels = 128
base_lr, incremental_lr = 0.01, 0.001

model = dict(
    task_sizes=task_sizes,
    backbone=dict(depth=18, out_stride=8, num_stages=3),
    decode_head=dict(in_channels=256, channels=head_channels, dilations=(1, 2, 3)),
    base_pos_weight=2.0)
train_cfg = dict(
    type='IncrementalLoop',
    task_split=dict(type='CISSTaskSplit', setting=setting,  # steps: model.task_sizes
                    cache_dir='work_dirs/ciss_splits'),
    stages=dict(step=dict(max_epochs=step_epochs, init_max_epochs=base_epochs)))
optim_wrapper = dict(optimizer=dict(lr=base_lr),
                     paramwise_cfg=dict(incremental_lr=incremental_lr))
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(max_keep_ckpts=1),
                     old_model=dict(type='OldModelResumeHook'))
