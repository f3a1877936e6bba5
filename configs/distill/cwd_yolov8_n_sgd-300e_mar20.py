# ./cwd-kl_yolov8_n_sgd-300e_mar20.py with the CWD term only (no KL response terms).
_base_ = './cwd-kl_yolov8_n_sgd-300e_mar20.py'

model = dict(distill_losses=dict(_delete_=True, loss_cwd=_base_.distill_losses.loss_cwd))
