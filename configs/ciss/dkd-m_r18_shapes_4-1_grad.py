# dkd-m_r18_shapes_4-1 + the trusted-foreground gradient learner (the reference design's
# defaults): the exemplars' old-class pixels are trusted, so the learner sees old classes
# with the current model's logits in every step.
_base_ = './dkd-m_r18_shapes_4-1.py'
default_hooks = dict(grad_learner=dict(type='GradLearnerHook', samples=512, lr=1e-3))
