# The MAR20 distillation student trained without a teacher (the baseline, and the base of the
# MAR20 distillation configs): YOLOv8-n on all 20 classes, started from the A1..A10 teacher's
# checkpoint (its class rows copied, A11..A20 fresh), backbone frozen for the first 25 of 100
# epochs (the reference recipe), trained on a 10-shot split of the training set. To train on a
# split file instead (the reference's "small" split), replace the FewShotSubset by
# `dataset=dict(ann_file='ImageSets/Main/small.txt')`. MAR20's location: `data_root` in
# configs/_base_/datasets/mar20_detection.py. Train the teacher first:
#   python tools/train.py configs/distill/yolov8_n_teacher-a1-a10_sgd-300e_mar20.py
_base_ = '../yolov8/yolov8_n_sgd-300e_mar20.py'

# ---- frequently changed ----
teacher_config = '{{fileDirname}}/yolov8_n_teacher-a1-a10_sgd-300e_mar20.py'
teacher_ckpt = 'work_dirs/yolov8_n_teacher-a1-a10_sgd-300e_mar20'  # a .pth or its work dir
shots = 10
max_epochs = 100
freeze_epochs = 25

model = dict(init_cfg=dict(type='IncrementalPretrained', checkpoint=teacher_ckpt))
train_dataloader = dict(dataset=dict(_delete_=True, type='FewShotSubset', shots=shots, seed=0,
                                     dataset=_base_.train_dataloader.dataset))
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(backbone_freeze=dict(type='BackboneFreezeHook', freeze_epochs=freeze_epochs,
                                          module='backbone'))
