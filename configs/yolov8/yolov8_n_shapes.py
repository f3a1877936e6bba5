# YOLOv8-n trained from scratch on the procedural shapes default (no download): 8 epochs of
# AdamW at 256 px, about 10 minutes on a 2-core CPU (README).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adamw_cosine_30e.py',
    '../_base_/datasets/shapes_detection.py',
    '../_base_/models/yolov8_n.py',
]

# ---- frequently changed ----
num_classes = 6
max_epochs = 8
base_lr = 0.004
warmup_iters = 100
train_batch_size_per_gpu = 16
val_interval = 2
freeze_epochs = 0

model = dict(
    bbox_head=dict(head_module=dict(num_classes=num_classes)),
    train_cfg=dict(assigner=dict(num_classes=num_classes)))

train_dataloader = dict(batch_size=train_batch_size_per_gpu)
train_cfg = dict(max_epochs=max_epochs, val_interval=val_interval)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=base_lr * 0.01, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True),
]

default_hooks = dict(
    checkpoint=dict(save_best='coco/bbox_mAP_50', rule='greater'),
    visualization=dict(type='DetVisualizationHook', draw=False))
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, tau=2000,
         update_buffers=True, strict_load=False, priority=49),
    dict(type='BackboneFreezeHook', freeze_epochs=freeze_epochs, module='backbone'),
]
visualizer = dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')
