# The MNIST-5k GCD pipeline with a torchvision ResNet-18 (random init) instead of the small ViT.
_base_ = './gcd_vit-tiny_mnist5k.py'

model = dict(backbone=dict(_delete_=True, type='TorchvisionResNet', depth=18, out_stride=32),
             feat_dim=512)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-5,
                                    _delete_=True))
