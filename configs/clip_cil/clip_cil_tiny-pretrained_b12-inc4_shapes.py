# The earlier offline default: CLIP CIL on 16 colour-shape compositions the tiny CLIP never
# saw as pairs (a base task of 12 classes, then 4 new ones; 60 training / 30 test images per
# class), CPU in about a minute after tools/pretrain_tiny_clip.py. Settings chosen on a
# validation split carved from the training images: benchmarks/clip_cil_selection.py. The
# default (clip_cil_tiny-pretrained-caption-2k_b14-inc2_shapes-240img.py) inherits it.
_base_ = [
    '../_base_/models/clip_tiny_shapes.py', '../_base_/datasets/shapes_cil.py',
    '../_base_/schedules/clip_cil_2stage.py'
]
num_classes, init_class, increment = 16, 12, 4
prompt_epochs = 30  # every task
update_old_text_prompts = True  # old prompts keep training on their replayed features
use_image_adapter = True  # RAPF's linear adapter on the image features
adapter_lr_mult = 10.0  # the adapter's learning rate over the prompts'

model = dict(num_classes=num_classes, init_class=init_class, increment=increment,
             prompt_learner=dict(update_old_text_prompts=update_old_text_prompts),
             use_image_adapter=use_image_adapter)
train_cfg = dict(stages=dict(prompts=dict(max_epochs=prompt_epochs,
                                          init_max_epochs=prompt_epochs,
                                          optim_wrapper=dict(paramwise_cfg=dict(custom_keys={
                                              'image_adapter': dict(lr_mult=adapter_lr_mult)
                                          }))),
                             head=dict(max_epochs=5, optim_wrapper=dict(optimizer=dict(lr=0.01)))))
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(logger=dict(interval=10), replay=dict(samples_per_old_class=60))
