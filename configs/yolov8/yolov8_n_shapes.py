# YOLOv8-n trained from scratch on the procedural shapes default (no download): 8 epochs of
# AdamW at 256 px, about 7 minutes on a 2-core CPU (README).
_base_ = ['../_base_/schedules/adamw_cosine_30e.py', '../_base_/datasets/shapes_detection.py',
          '../_base_/models/yolov8_n.py']

# ---- frequently changed ----
num_classes = 6
max_epochs = 8
freeze_epochs = 0

model = dict(bbox_head=dict(head_module=dict(num_classes=num_classes)))
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
optim_wrapper = dict(optimizer=dict(lr=0.004))
default_hooks = dict(backbone_freeze=dict(freeze_epochs=freeze_epochs))
