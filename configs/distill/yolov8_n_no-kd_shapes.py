# The student of the shapes distillation recipe trained without a teacher (the baseline, and
# the base of the distillation configs): few-shot incremental learning as in the reference
# recipe. YOLOv8-n on all 6 classes, started from the teacher's checkpoint (the teacher's class
# rows copied, the new classes' rows fresh), backbone frozen for the first epochs, trained on a
# 10-shot split (26 images: every class in at least 10 of them). Train the teacher first:
#   python tools/train.py configs/distill/yolov8_n_teacher-first-half_shapes.py
_base_ = '../yolov8/yolov8_n_shapes.py'

# ---- frequently changed ----
teacher_config = '{{fileDirname}}/yolov8_n_teacher-first-half_shapes.py'
teacher_ckpt = 'work_dirs/yolov8_n_teacher-first-half_shapes'  # a .pth or the teacher's work dir
shots = 10  # images per class in the training split
max_epochs = 40
freeze_epochs = 10  # backbone frozen in epochs 0..9 (the reference: 25 of 100)
batch_size = 8
lr = 0.002
warmup_iters = 20

model = dict(init_cfg=dict(type='IncrementalPretrained', checkpoint=teacher_ckpt))
train_dataloader = dict(batch_size=batch_size, dataset=dict(
    _delete_=True, type='FewShotSubset', shots=shots, seed=0,
    dataset=_base_.train_dataloader.dataset))
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [  # the cosine `end` defaults to train_cfg.max_epochs
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=True, begin=0,
         convert_to_iter_based=True),
]
default_hooks = dict(backbone_freeze=dict(freeze_epochs=freeze_epochs))
