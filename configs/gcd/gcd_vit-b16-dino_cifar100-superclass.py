# The reference recipe: GCD on one CIFAR-100 superclass with DINO ViT-B/16 (local weight file,
# e.g. dino_vitbase16_pretrain.pth, only the last block fine-tuned), 100 epochs, SSDDBC pseudo
# labels from epoch 50, re-clustered at 75. Needs a GPU for practical speed.
#   python tools/pseudo_label_pipeline.py configs/gcd/gcd_vit-b16-dino_cifar100-superclass.py \
#       --run-dir runs/gcd_sc0 --cfg-options superclass=0
_base_ = [
    '../_base_/models/gcd_vit_tiny.py', '../_base_/datasets/cifar100_superclass_gcd.py',
    '../_base_/schedules/gcd_pseudo_label.py'
]

# ---- frequently changed ----
dino_checkpoint = 'data/pretrained/dino_vitbase16_pretrain.pth'
max_epochs = 100
stop_at_epoch = 50
refresh_epochs = [75]
sup_con_weight = 0.35

pseudo_label_pipeline = dict(stop_at_epoch=stop_at_epoch, refresh_epochs=refresh_epochs,
                             ssddbc=dict(num_workers=8))
model = dict(
    backbone=dict(_delete_=True, type='TorchvisionViT', image_size=224, patch_size=16,
                  num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072,
                  checkpoint=dino_checkpoint, frozen_blocks=11),
    feat_dim=768, hidden_dim=2048, sup_con_weight=sup_con_weight,
    data_preprocessor=dict(flip_prob=0.5, crop_scale=(0.5, 1.0)))
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-5))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, T_max=max_epochs, eta_min=1e-3,
                        convert_to_iter_based=True)]
