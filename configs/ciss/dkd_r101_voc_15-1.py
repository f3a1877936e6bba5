# DKD (NeurIPS 2022) on Pascal VOC 2012 15-1 overlap: ResNet-101 DeepLabV3, 60 epochs per
# step, batch 32, crop 512, lr 1e-3 (step 0) / 1e-4 (later steps).
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/dkd_deeplabv3_r101.py',
    '../_base_/datasets/voc_ciss.py', '../_base_/schedules/dkd_sgd_poly.py'
]
# ---- frequently changed
task_sizes, setting = [15, 1, 1, 1, 1, 1], 'overlap'  # the 15-1 setting
epochs = 60

model = dict(task_sizes=task_sizes, base_pos_weight=2.0)  # pos_weight 2 in step 0, then 1
train_cfg = dict(
    type='IncrementalLoop',
    task_split=dict(type='CISSTaskSplit', setting=setting,  # steps: model.task_sizes
                    cache_dir='work_dirs/ciss_splits'),
    stages=dict(step=dict(max_epochs=epochs)))
default_hooks = dict(checkpoint=dict(max_keep_ckpts=2),
                     old_model=dict(type='OldModelResumeHook'))
