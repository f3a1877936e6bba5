# Distillation terms of the reference detection recipe ("c1.nano.distillation"): CWD on the
# student's neck levels, KL on the class logits (the teacher's classes) and on the box
# distributions, with the reference weights. A distillation config combines this file with a
# student config (two bases) and passes `distill_losses` to its DetectionDistiller.
w_cwd, w_resp = 0.05, 0.001  # the reference (w_cwd, w_resp); w_gt is model.gt_loss_weight (1.0)
tau = 1.0
class_indexes = None  # student class of teacher class j; None: the student's first classes

distill_losses = dict(
    loss_cwd=dict(
        student='neck', loss=dict(type='ChannelWiseDivergence', tau=tau, loss_weight=w_cwd)),
    loss_kl_cls=dict(
        student='cls_scores',
        loss=dict(type='KLResponseLoss', tau=tau, class_indexes=class_indexes, mode='softmax',
                  loss_weight=w_resp)),
    loss_kl_box=dict(
        student='bbox_dist_preds',
        loss=dict(type='KLResponseLoss', tau=tau, reg_max=16, loss_weight=w_resp)))
