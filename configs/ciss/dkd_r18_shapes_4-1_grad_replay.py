# DKD + the gradient learner with phase replay (beyond the reference design): 1024 trusted
# pixels kept per finished step, 256 of them mixed into every learner step.
_base_ = './dkd_r18_shapes_4-1_grad.py'
replay_per_step, replay_samples = 1024, 256

default_hooks = dict(grad_learner=dict(replay_per_step=replay_per_step,
                                       replay_samples=replay_samples))
