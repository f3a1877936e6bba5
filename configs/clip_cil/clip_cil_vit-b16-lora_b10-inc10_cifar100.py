# The CIFAR-100 recipe with LoRA on the last two ViT blocks in stage 2 (the image encoder
# then changes: stage 2 reads images instead of cached features).
_base_ = './clip_cil_vit-b16_b10-inc10_cifar100.py'

model = dict(lora=dict(rank=8, alpha=16, layers=[10, 11], target_modules=('q_proj', 'v_proj'),
                       dropout=0.0))
