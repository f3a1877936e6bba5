# YOLOv8-n on the shapes default as `yolo train model=yolov8n.yaml imgsz=256 epochs=8
# close_mosaic=2` runs it (benchmarks/bench_recipe_parity.py): optimizer 'auto' = AdamW lr
# 0.001 (0.002 * 5 / (4 + 6 classes)), bias warm-up from 0; mosaic until the last 2 epochs.
# Validation letterboxes onto 256 px; ultralytics' rectangular val batches pad half a stride,
# i.e. a 288 px canvas (ceil(256 / 32 + 0.5) * 32) for these 256 px images.
_base_ = ['../_base_/schedules/yolov8_sgd_500e.py', '../_base_/datasets/shapes_detection.py',
          '../_base_/models/yolov8_n.py']
num_classes, max_epochs, close_mosaic_epochs = 6, 8, 2  # ---- frequently changed ----

model = dict(bbox_head=dict(head_module=dict(num_classes=num_classes)))
train_dataloader = dict(dataset=dict(pipeline=_base_.ultralytics_train_pipeline))
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
# 'auto': the runner reads num_classes, num_images and max_epochs from the run when it builds
# the optimizer, so `--cfg-options train_cfg.max_epochs=N` changes the choice too
optim_wrapper = dict(optimizer=dict(type='auto'))
default_hooks = dict(pipeline_switch=dict(
    type='PipelineSwitchHook', close_epochs=close_mosaic_epochs,
    switch_pipeline=_base_.ultralytics_close_mosaic_pipeline))
