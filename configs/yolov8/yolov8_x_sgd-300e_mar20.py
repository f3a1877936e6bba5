# YOLOv8-x on MAR20: the n recipe at ultralytics' x scale (deepen, widen, last stage =
# 1.0, 1.25, 512) with x-size augmentation (affine scale 0.9, mixup 0.15).
_base_ = './yolov8_n_sgd-300e_mar20.py'

model = _base_.model_scales['x']
train_dataloader = dict(dataset=dict(pipeline=_base_.train_pipelines['l']))
default_hooks = dict(pipeline_switch=dict(switch_pipeline=_base_.close_mosaic_pipelines['l']))
