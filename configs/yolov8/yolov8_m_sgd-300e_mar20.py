# YOLOv8-m on MAR20: the n recipe at ultralytics' m scale (deepen, widen, last stage =
# 0.67, 0.75, 768) with m-size augmentation (affine scale 0.9, mixup 0.1).
_base_ = './yolov8_n_sgd-300e_mar20.py'

model = _base_.model_scales['m']
train_dataloader = dict(dataset=dict(pipeline=_base_.train_pipelines['m']))
default_hooks = dict(pipeline_switch=dict(switch_pipeline=_base_.close_mosaic_pipelines['m']))
