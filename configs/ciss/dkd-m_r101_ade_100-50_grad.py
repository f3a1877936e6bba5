# dkd-m_r101_ade_100-50 + the trusted-foreground gradient learner (the reference design's defaults).
_base_ = './dkd-m_r101_ade_100-50.py'
default_hooks = dict(grad_learner=dict(type='GradLearnerHook', samples=512, lr=1e-3))
