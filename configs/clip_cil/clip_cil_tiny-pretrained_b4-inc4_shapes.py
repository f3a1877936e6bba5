# The offline default: CLIP CIL on 16 colour-shape compositions the tiny CLIP never saw as
# pairs (4 tasks x 4 classes), CPU in about a minute after tools/pretrain_tiny_clip.py.
_base_ = [
    '../_base_/models/clip_tiny_shapes.py', '../_base_/datasets/shapes_cil.py',
    '../_base_/schedules/clip_cil_2stage.py'
]
num_classes, init_class, increment = 16, 4, 4

model = dict(num_classes=num_classes, init_class=init_class, increment=increment)
train_cfg = dict(stages=dict(prompts=dict(max_epochs=10, init_max_epochs=10),
                             head=dict(max_epochs=5, optim_wrapper=dict(optimizer=dict(lr=0.01)))))
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(logger=dict(interval=10), replay=dict(samples_per_old_class=60))
