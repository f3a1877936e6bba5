# DKD + the gradient learner with image replay (beyond the reference design): 128 training
# images with their trusted labels kept per finished step; every learner step forwards 16 of
# them through the current model and adds their trusted pixels, class-balanced.
_base_ = './dkd_r18_shapes_4-1_grad.py'
replay_images_per_step, replay_images = 128, 16

default_hooks = dict(grad_learner=dict(replay_images_per_step=replay_images_per_step,
                                       replay_images=replay_images, class_balanced=True))
