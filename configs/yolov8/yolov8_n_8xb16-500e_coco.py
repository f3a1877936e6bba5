# YOLOv8-n on COCO 2017 with ultralytics' recipe (ultralytics' yolov8n: 37.3 mAP50-95 on val).
# 8 GPUs x 16 images: accumulate 1 and weight decay x2 (nominal batch 64), as ultralytics at
# batch 128. BatchNorm is per GPU, as in ultralytics' DDP (mmyolo uses SyncBN).
_base_ = ['../_base_/schedules/yolov8_sgd_500e.py', '../_base_/datasets/coco_detection.py',
          '../_base_/models/yolov8_n.py']

# ---- frequently changed ----
max_epochs = 500
close_mosaic_epochs = 10

train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(pipeline_switch=dict(
    type='PipelineSwitchHook', close_epochs=close_mosaic_epochs,
    switch_pipeline=_base_.close_mosaic_pipelines['n']))
