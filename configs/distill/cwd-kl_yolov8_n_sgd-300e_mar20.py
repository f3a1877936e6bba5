# Student YOLOv8-n on all 20 MAR20 classes, distilled from the A1..A10 teacher
# (./yolov8_n_teacher-a1-a10_sgd-300e_mar20.py), the seed's "c1.nano.distillation":
# loss = w_gt * detection + w_cwd * CWD on the neck levels + w_resp * KL on the class logits
# (teacher's classes) and box distributions. Train the teacher first:
#   python tools/train.py configs/distill/yolov8_n_teacher-a1-a10_sgd-300e_mar20.py
_base_ = '../yolov8/yolov8_n_sgd-300e_mar20.py'

# ---- frequently changed ----
data_root = 'data/MAR20/'  # local copy of MAR20 in its VOC layout
teacher_config = '{{fileDirname}}/yolov8_n_teacher-a1-a10_sgd-300e_mar20.py'
# a checkpoint file, or the teacher's work dir (its last_checkpoint is used)
teacher_ckpt = 'work_dirs/yolov8_n_teacher-a1-a10_sgd-300e_mar20'
class_indexes = list(range(10))  # student class of teacher class j: A(j+1)
w_gt, w_cwd, w_resp = 1.0, 0.05, 0.001
tau = 1.0

model = dict(
    _delete_=True,
    type='DetectionDistiller',
    student=_base_.model,
    teacher_config=teacher_config,
    teacher_ckpt=teacher_ckpt,
    gt_loss_weight=w_gt,
    distill_losses=dict(
        loss_cwd=dict(
            student='neck',
            loss=dict(type='ChannelWiseDivergence', tau=tau, loss_weight=w_cwd)),
        loss_kl_cls=dict(
            student='cls_scores',
            loss=dict(type='KLResponseLoss', tau=tau, class_indexes=class_indexes,
                      mode='softmax', loss_weight=w_resp)),
        loss_kl_box=dict(
            student='bbox_dist_preds',
            loss=dict(type='KLResponseLoss', tau=tau, reg_max=16, loss_weight=w_resp))))

train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, tau=2000,
         update_buffers=True, strict_load=False, priority=49),
    dict(type='BackboneFreezeHook', freeze_epochs=0, module='student.backbone'),
]
