# YOLOv8-n student on all 6 shapes classes distilled from the first-half teacher (CWD + KL, the
# reference recipe's weights). Train the teacher first:
#   python tools/train.py configs/distill/yolov8_n_teacher-first-half_shapes.py
_base_ = ['../yolov8/yolov8_n_shapes.py', '../_base_/models/yolov8_distill_cwd-kl.py']

# ---- frequently changed ----
teacher_config = '{{fileDirname}}/yolov8_n_teacher-first-half_shapes.py'
teacher_ckpt = 'work_dirs/yolov8_n_teacher-first-half_shapes'  # a .pth or the teacher's work dir

model = dict(_delete_=True, type='DetectionDistiller', student=_base_.model,
             teacher_config=teacher_config, teacher_ckpt=teacher_ckpt,
             distill_losses=_base_.distill_losses)
default_hooks = dict(backbone_freeze=dict(module='student.backbone'))
