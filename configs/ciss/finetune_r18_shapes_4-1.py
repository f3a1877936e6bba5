# Fine-tuning lower bound: the same run without the distillation terms (KD and DKD).
_base_ = './dkd_r18_shapes_4-1.py'
model = dict(loss_kd=None, loss_dkd=None)
