# CLIP class-incremental learning, two stages per task: stage `prompts` trains
# the class prompts (+ Gaussian replay + hinge from task 1) on cached image features, stage
# `head` (tasks >= model.second_stage_start_task) the task's linear head. Method configs state
# the task split once, in the model (num_classes / init_class / increment); the loop hands it
# to the split, the hooks and the metric.
_base_ = '../default_runtime.py'

train_cfg = dict(
    type='IncrementalLoop',
    task_split=dict(type='ClassIncrementalSplit'),  # the model's task sizes
    stages=dict(
        prompts=dict(max_epochs=5, init_max_epochs=5),
        head=dict(max_epochs=3, optim_wrapper=dict(optimizer=dict(lr=0.001)))),
    results_file='cil_results.json')
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
val_evaluator = dict(type='CILMetric')  # groups by the model's task sizes
test_evaluator = val_evaluator

# one fresh optimizer per task and stage; a stage's optim_wrapper is merged over this one
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.002, momentum=0.9, weight_decay=0.0))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, eta_min=0.0)]  # per stage

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(max_keep_ckpts=1),
    feature_cache=dict(type='FeatureCacheHook'),
    replay=dict(type='GaussianReplayHook', samples_per_old_class=64))
randomness = dict(seed=1993)
