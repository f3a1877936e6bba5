# ./cwd-kl_yolov8_n_sgd-300e_mar20.py with the distillation terms of the reference framework:
# CWD on 8 maps
# (backbone C2..C5, neck top-down P4, P3, P4, P5) and one KL on the concatenated head output (box
# bins and the teacher's classes), at the same weights
# (configs/_base_/models/yolov8_distill_cwd8-klcat.py).
_base_ = ['./yolov8_n_no-kd_sgd-300e_mar20.py', '../_base_/models/yolov8_distill_cwd8-klcat.py']

# the student's init_cfg checkpoint None: the distiller's teacher_ckpt
model = dict(_delete_=True, type='DetectionDistiller',
             student=dict(_base_.model,
                          init_cfg=dict(type='IncrementalPretrained', checkpoint=None)),
             teacher_config=_base_.teacher_config, teacher_ckpt=_base_.teacher_ckpt,
             distill_losses=_base_.distill_losses)
default_hooks = dict(backbone_freeze=dict(module='student.backbone'))
