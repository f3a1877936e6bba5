# CLIP class-incremental learning on scikit-learn's digits: 5 tasks x 2 classes, a tiny
# randomly initialised CLIP, CPU in a few minutes. The first run needs no download.
_base_ = [
    '../_base_/models/clip_tiny.py', '../_base_/datasets/digits_cil.py',
    '../_base_/default_runtime.py'
]

# ---- frequently changed ----
seed = 1993                 # torch / numpy / random and the class order
num_classes = 10
init_class = 2
increment = 2
stage1_epochs = 20          # prompts (+ replay + hinge from task 1)
init_stage1_epochs = 10
stage2_epochs = 4           # per-task heads
lr = 0.002
stage2_lr = 0.01
samples_per_old_class = 128  # Gaussian replay per old class and epoch (~ real per class)

# Heads from task 0 on, with a small logit scale: the random tiny CLIP's features are
# nearly collinear (mean cosine 0.93), so heads at CLIP's scale (100) would dominate.
model = dict(num_classes=num_classes, init_class=init_class, increment=increment,
             second_stage_start_task=0, second_stage_logit_scale=10.0,
             second_stage_fusion_weight=0.3)

train_dataloader = dict(dataset=dict(class_order_seed=seed))
val_dataloader = dict(dataset=dict(class_order_seed=seed))
test_dataloader = val_dataloader

train_cfg = dict(
    type='IncrementalLoop',
    init_class=init_class,
    increment=increment,
    max_epochs=stage1_epochs,
    init_max_epochs=init_stage1_epochs,
    cache_features=True,
    second_stage=dict(
        max_epochs=stage2_epochs,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=stage2_lr, momentum=0.9,
                                          weight_decay=0.0)),
        param_scheduler=[dict(type='CosineAnnealingLR', by_epoch=True, eta_min=0.0)]),
    results_file='cil_results.json')
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
val_evaluator = dict(type='CILMetric', num_classes=num_classes, init_class=init_class,
                     increment=increment)
test_evaluator = val_evaluator

# stage-1 optimizer and schedule (a fresh one per task; stage 2 has its own above)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, weight_decay=0.0))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, eta_min=0.0)]

custom_hooks = [dict(type='GaussianReplayHook', samples_per_old_class=samples_per_old_class)]

default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2))
randomness = dict(seed=seed)
