# YOLOv8-n student on all 20 MAR20 classes distilled from the A1..A10 teacher (CWD + KL, the
# reference recipe's "c1.nano.distillation"). Train the teacher first:
#   python tools/train.py configs/distill/yolov8_n_teacher-a1-a10_sgd-300e_mar20.py
_base_ = ['../yolov8/yolov8_n_sgd-300e_mar20.py', '../_base_/models/yolov8_distill_cwd-kl.py']

# ---- frequently changed ----
teacher_config = '{{fileDirname}}/yolov8_n_teacher-a1-a10_sgd-300e_mar20.py'
teacher_ckpt = 'work_dirs/yolov8_n_teacher-a1-a10_sgd-300e_mar20'  # a .pth or its work dir

model = dict(_delete_=True, type='DetectionDistiller', student=_base_.model,
             teacher_config=teacher_config, teacher_ckpt=teacher_ckpt,
             distill_losses=_base_.distill_losses)
default_hooks = dict(backbone_freeze=dict(type='BackboneFreezeHook', freeze_epochs=0,
                                          module='student.backbone'))
