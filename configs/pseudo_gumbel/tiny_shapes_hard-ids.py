# Ablation of tiny_shapes.py: the same schedule with the Gumbel path cut in stage 2 (the
# teacher's caption ids are embedded as hard ids; no gradient reaches caption logits).
_base_ = './tiny_shapes.py'

default_hooks = dict(train_mode=dict(after='hard_ids'))
