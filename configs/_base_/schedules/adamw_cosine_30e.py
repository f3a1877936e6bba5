# AdamW with linear warm-up and cosine decay: what ultralytics' optimizer='auto' picks for
# short schedules (< 10k iterations). No weight decay on norm layers and biases.
max_epochs = 30
base_lr = 0.002
weight_decay = 0.0005
warmup_iters = 200

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=weight_decay),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=10.0))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=base_lr * 0.01, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
