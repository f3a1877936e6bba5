# DKD + the gradient learner with image replay + pseudo-gradient alignment (beyond the
# reference design): on background pixels the old model calls foreground, the main model
# steps along the learner's normalised prediction (new-class components zeroed), weight beta.
# beta = 1 diverges on this default (the loss is linear in the logits; docs/en/methods/ciss.md).
# Controls: target='pseudo_label' (old-model argmax instead of h_w); an untrained h_w with
# --cfg-options default_hooks.grad_learner.lr=0.
_base_ = './dkd_r18_shapes_4-1_grad_replay-img.py'
beta, target = 0.1, 'learner'

model = dict(loss_align=dict(type='PseudoGradAlignLoss', target=target, loss_weight=beta))
