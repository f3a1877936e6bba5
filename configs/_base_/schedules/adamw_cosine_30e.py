# The shapes recipe: AdamW (what ultralytics' optimizer='auto' picks for short runs), 100
# iterations of linear warm-up, cosine decay to 1% of the lr at `train_cfg.max_epochs`, weight
# decay off for norms and biases, gradient norm clipped at 10, EMA of the weights every
# iteration. A child changes `train_cfg.max_epochs` and `optim_wrapper.optimizer.lr` only.
_base_ = '../default_runtime.py'

max_epochs = 30
base_lr = 0.002
weight_decay = 0.0005
warmup_iters = 100

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=weight_decay),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=10.0))

param_scheduler = [  # the cosine `end` defaults to train_cfg.max_epochs
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=True, begin=0,
         convert_to_iter_based=True),
]

default_hooks = dict(
    checkpoint=dict(save_best='coco/bbox_mAP_50', rule='greater'),
    visualization=dict(type='DetVisualizationHook', draw=False),
    ema=dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, tau=2000,
             update_buffers=True, strict_load=False, priority=49),
    backbone_freeze=dict(type='BackboneFreezeHook', freeze_epochs=0, module='backbone'))
visualizer = dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
