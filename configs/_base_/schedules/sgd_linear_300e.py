# ultralytics' default YOLOv8 recipe: SGD (momentum 0.937, nesterov), 3 warm-up epochs,
# linear decay to lrf = 0.01 over 300 epochs, weight decay 5e-4 off for norms and biases.
max_epochs = 300
base_lr = 0.01
weight_decay = 0.0005
warmup_epochs = 3

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.937, nesterov=True,
                   weight_decay=weight_decay),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=10.0))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.01, by_epoch=True,
         begin=warmup_epochs, end=max_epochs),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
