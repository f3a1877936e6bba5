# DKD + the trusted-foreground gradient learner (the reference design's defaults).
_base_ = './dkd_r18_shapes_4-1.py'
default_hooks = dict(grad_learner=dict(type='GradLearnerHook', samples=512, lr=1e-3))
