# ultralytics' YOLOv8 training recipe (cfg/default.yaml; its COCO models train for 500 epochs):
# SGD lr0 0.01, momentum 0.937 (nesterov), weight decay 5e-4 per nominal batch of 64 images
# (gradients summed over accumulate = round(64 / total batch) iterations, decay scaled by
# batch * accumulate / 64), 3 warm-up epochs (>= 100 iterations: bias lr from 0.1, momentum
# from 0.8, accumulation from 1), linear decay to lrf = 0.01, gradient norm clipped at 10,
# EMA (decay 0.9999, tau 2000) updated on optimizer steps, AMP when training on a GPU.
# Differs from ultralytics: validation every `val_interval` epochs (ultralytics: every epoch)
# and the best checkpoint by mAP50-95 (ultralytics: 0.1 mAP50 + 0.9 mAP50-95).
_base_ = '../default_runtime.py'

max_epochs = 500
base_lr = 0.01

optim_wrapper = dict(  # accumulate / decay follow train_dataloader.batch_size x GPUs
    constructor='NominalBatchOptimWrapperConstructor',
    nominal_batch_size=64,
    amp='auto',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.937, nesterov=True, weight_decay=0.0005),
    clip_grad=dict(max_norm=10.0))
param_scheduler = None  # lr and momentum come from default_hooks.param_scheduler

default_hooks = dict(
    param_scheduler=dict(type='YOLOv8ParamSchedulerHook', scheduler_type='linear',
                         lr_factor=0.01, warmup_epochs=3, min_warmup_iters=100,
                         warmup_bias_lr=0.1, warmup_momentum=0.8),
    ema=dict(type='OptimStepEMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, tau=2000,
             update_buffers=True, strict_load=False, priority=49),
    checkpoint=dict(interval=10, save_best='coco/bbox_mAP', rule='greater'),
    visualization=dict(type='DetVisualizationHook', draw=False))
visualizer = dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
