# The CIFAR-100 recipe with LoRA on the last two ViT blocks for the stage-2 heads (stage 2
# then reads images; prompts, replay and statistics keep the frozen encoder's features).
_base_ = './clip_cil_vit-b16_b10-inc10_cifar100.py'

model = dict(lora=dict(rank=8, alpha=16, layers=[10, 11], target_modules=('q_proj', 'v_proj'),
                       dropout=0.0))
