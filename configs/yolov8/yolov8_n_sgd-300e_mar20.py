# YOLOv8-n on MAR20 (VOC layout, 20 classes): ultralytics' recipe, 300 epochs, best by mAP50.
_base_ = ['../_base_/schedules/yolov8_sgd_500e.py', '../_base_/datasets/mar20_detection.py',
          '../_base_/models/yolov8_n.py']

# ---- frequently changed ----
num_classes = 20
max_epochs = 300
close_mosaic_epochs = 10

model = dict(bbox_head=dict(head_module=dict(num_classes=num_classes)))
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(save_best='coco/bbox_mAP_50'), pipeline_switch=dict(
    type='PipelineSwitchHook', close_epochs=close_mosaic_epochs,
    switch_pipeline=_base_.close_mosaic_pipelines['n']))
