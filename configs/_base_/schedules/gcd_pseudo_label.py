# Schedule of the three-stage GCD pipeline (tools/pseudo_label_pipeline.py): one schedule of
# max_epochs; stage 1 stops at `stop_at_epoch`, SSDDBC clusters the cached features, stage 3
# continues with the pseudo labels and re-clusters at each refresh epoch.
_base_ = ['../default_runtime.py']  # adds the GCD hooks to its default_hooks

max_epochs = 100
pseudo_label_pipeline = dict(
    stop_at_epoch=50,           # end of the warm-up (the reference recipe's 50)
    refresh_epochs=[75],        # re-cluster here (after stop_at_epoch)
    ssddbc=dict(ks=list(range(3, 21)), percentiles=list(range(40, 96, 5)), num_workers=2))

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-5))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, T_max=max_epochs,
                        eta_min=1e-3, convert_to_iter_based=True)]
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=-1, save_last=True),
    pseudo_weight=dict(type='PseudoLabelWeightHook', max_weight=1.0),
    stop_at_epoch=dict(type='StopAtEpochHook', stop_at_epoch=None),
    feature_cache=dict(type='GCDFeatureCacheHook', out_file=None))
# one visualizer directory for all stages (the pipeline sets visualizer.save_dir): JSON
# scalars and TensorBoard event files (`tensorboard --logdir RUN_DIR/logs`)
visualizer = dict(type='Visualizer', name='visualizer',
                  vis_backends=[dict(type='LocalVisBackend'),
                                dict(type='TensorboardVisBackend')])
