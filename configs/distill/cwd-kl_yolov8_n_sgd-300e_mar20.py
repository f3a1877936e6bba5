# The MAR20 distillation recipe (the reference's "c1.nano.distillation"): the few-shot student
# of ./yolov8_n_no-kd_sgd-300e_mar20.py distilled from the A1..A10 teacher with CWD + KL at the
# reference weights. Train the teacher first:
#   python tools/train.py configs/distill/yolov8_n_teacher-a1-a10_sgd-300e_mar20.py
_base_ = ['./yolov8_n_no-kd_sgd-300e_mar20.py', '../_base_/models/yolov8_distill_cwd-kl.py']

# the student's init_cfg checkpoint None: the distiller's teacher_ckpt
model = dict(_delete_=True, type='DetectionDistiller',
             student=dict(_base_.model,
                          init_cfg=dict(type='IncrementalPretrained', checkpoint=None)),
             teacher_config=_base_.teacher_config, teacher_ckpt=_base_.teacher_ckpt,
             distill_losses=_base_.distill_losses)
default_hooks = dict(backbone_freeze=dict(module='student.backbone'))
