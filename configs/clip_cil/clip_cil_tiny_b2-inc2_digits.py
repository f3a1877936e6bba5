# CLIP class-incremental learning on scikit-learn's digits: 5 tasks x 2 classes, a tiny
# randomly initialised CLIP, CPU in a few minutes, no download.
_base_ = [
    '../_base_/models/clip_tiny.py', '../_base_/datasets/digits_cil.py',
    '../_base_/schedules/clip_cil_2stage.py'
]
num_classes, init_class, increment = 10, 2, 2

# heads from task 0 on, with a small logit scale: the random tiny CLIP's features are nearly
# collinear (mean cosine 0.93), so heads at CLIP's scale (100) would dominate
model = dict(num_classes=num_classes, init_class=init_class, increment=increment,
             second_stage_start_task=0, second_stage_logit_scale=10.0)
train_cfg = dict(
    stages=dict(prompts=dict(max_epochs=20, init_max_epochs=10),
                head=dict(max_epochs=4, optim_wrapper=dict(optimizer=dict(
                    type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0)))))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=0.002, weight_decay=0.0, _delete_=True))
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(max_keep_ckpts=2),
                     replay=dict(samples_per_old_class=128))
