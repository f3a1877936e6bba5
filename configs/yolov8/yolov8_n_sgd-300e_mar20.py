# YOLOv8-n on MAR20 (VOC layout, 20 classes) with ultralytics' default 300-epoch SGD recipe.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/sgd_linear_300e.py',
    '../_base_/datasets/mar20_detection.py',
    '../_base_/models/yolov8_n.py',
]

# ---- frequently changed ----
data_root = 'data/MAR20/'
num_classes = 20
max_epochs = 300
base_lr = 0.01
train_batch_size_per_gpu = 16
val_interval = 10

model = dict(
    bbox_head=dict(head_module=dict(num_classes=num_classes)),
    train_cfg=dict(assigner=dict(num_classes=num_classes)))

train_dataloader = dict(batch_size=train_batch_size_per_gpu, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=max_epochs, val_interval=val_interval)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.01, by_epoch=True, begin=3,
         end=max_epochs),
]

default_hooks = dict(
    checkpoint=dict(interval=10, save_best='coco/bbox_mAP_50', rule='greater'),
    visualization=dict(type='DetVisualizationHook', draw=False))
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, tau=2000,
         update_buffers=True, strict_load=False, priority=49),
    dict(type='BackboneFreezeHook', freeze_epochs=0, module='backbone'),
]
visualizer = dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')
