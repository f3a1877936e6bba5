# ./cwd-kl_yolov8_n_shapes.py with the CWD term only (no KL response terms).
_base_ = './cwd-kl_yolov8_n_shapes.py'

model = dict(distill_losses=dict(_delete_=True, loss_cwd=_base_.distill_losses.loss_cwd))
