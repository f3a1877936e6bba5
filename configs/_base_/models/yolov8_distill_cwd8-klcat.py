# Distillation terms as the reference framework computes them: CWD on 8 feature maps (the
# 'backbone_neck' record: backbone C2 (stride 4), C3, C4, C5, neck top-down P4, P3, P4, P5) and
# one KL on the raw head output concatenated per level ('head_response': 4 * reg_max box bins,
# then the teacher's classes), normalised as CWD (sum / (N * channels)). A distillation config
# combines this file with a student config and passes `distill_losses` to its DetectionDistiller.
w_cwd, w_resp = 0.05, 0.001  # the reference weights; w_gt is model.gt_loss_weight (1.0)
tau = 1.0
class_indexes = None  # student class of teacher class j; None: the student's first classes

distill_losses = dict(
    loss_cwd=dict(student='backbone_neck',
                  loss=dict(type='ChannelWiseDivergence', tau=tau, loss_weight=w_cwd)),
    loss_kl=dict(student='head_response',
                 loss=dict(type='HeadResponseKL', tau=tau, reg_max=16,
                           class_indexes=class_indexes, loss_weight=w_resp)))
