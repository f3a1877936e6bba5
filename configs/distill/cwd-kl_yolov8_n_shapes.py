# The shapes distillation recipe: the few-shot student of ./yolov8_n_no-kd_shapes.py (started
# from the teacher's checkpoint) distilled from the base-class teacher with CWD on the neck and
# KL on class logits and box distributions, the reference weights. Train the teacher first:
#   python tools/train.py configs/distill/yolov8_n_teacher-first-half_shapes.py
_base_ = ['./yolov8_n_no-kd_shapes.py', '../_base_/models/yolov8_distill_cwd-kl.py']

# the student's init_cfg checkpoint None: the distiller's teacher_ckpt
model = dict(_delete_=True, type='DetectionDistiller',
             student=dict(_base_.model,
                          init_cfg=dict(type='IncrementalPretrained', checkpoint=None)),
             teacher_config=_base_.teacher_config, teacher_ckpt=_base_.teacher_ckpt,
             distill_losses=_base_.distill_losses)
default_hooks = dict(backbone_freeze=dict(module='student.backbone'))
