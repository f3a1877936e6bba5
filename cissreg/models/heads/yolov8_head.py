"""YOLOv8 head wiring: anchor points, DFL decoding, task-aligned losses and prediction."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.dist import get_world_size
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor
from torchvision.ops import batched_nms

from cissreg.registry import MODELS, TASK_UTILS

from ..losses.global_batch_scale import global_batch_scale

DEFAULT_LOSS_CLS = dict(type='BCEWithLogitsLoss', reduction='mean', loss_weight=0.5)
DEFAULT_LOSS_BBOX = dict(type='IoULoss', iou_mode='ciou', reduction='mean', loss_weight=7.5)
DEFAULT_LOSS_DFL = dict(type='DistributionFocalLoss', reduction='mean', loss_weight=1.5)
DEFAULT_TRAIN_CFG = dict(
    assigner=dict(type='TaskAlignedAssigner', topk=10, alpha=0.5, beta=6.0, eps=1e-9))
DEFAULT_TEST_CFG = dict(multi_label=True, nms_pre=30000, score_thr=0.001,
                        nms=dict(type='nms', iou_threshold=0.7), max_per_img=300)

# (grid points [A, 2] in stride units, strides [A, 1], points [A, 2] in pixels)
Priors = Tuple[Tensor, Tensor, Tensor]


@MODELS.register_module()
class YOLOv8Head(BaseModule):
    """YOLOv8 detection head: ``head_module`` layers plus training and inference wiring.

    Anchor points are the centres of the feature-map cells (offset 0.5, ultralytics
    ``make_anchors``), generated once per set of feature-map sizes and cached. Each box side is
    a distribution over ``reg_max`` bins whose expectation (``softmax @ arange(reg_max)``) is
    the distance from the anchor point in stride units.

    Losses, as ultralytics ``v8DetectionLoss``: with ``S = max(sum(assigned_scores), 1)``,
    ``loss_cls`` is BCE summed over all anchors and classes divided by ``S``; ``loss_bbox`` is
    ``1 - CIoU`` of the positive anchors weighted by their target score, divided by ``S``;
    ``loss_dfl`` is the DFL of the positive anchors' four sides (targets in stride units,
    clipped to ``reg_max - 1 - 0.01``) weighted the same way, divided by ``4 * S``. Every
    term is then multiplied by the number of images times the world size
    (:func:`~cissreg.models.losses.global_batch_scale.global_batch_scale`), like ultralytics
    (``loss.sum() * batch_size``, times ``world_size`` under DDP) and mmyolo: gradient
    averaging over images and ranks then matches ultralytics, so its hyper-parameters (lr,
    weight decay, the 7.5 / 0.5 / 1.5 gains) transfer unchanged. Logged values divided by
    the batch size equal ultralytics' ``loss_items``. Terms added to these losses (e.g.
    distillation) must use the same factor.

    Args:
        head_module (dict): Config of the layers (``YOLOv8HeadModule``); its
            ``num_classes``, ``reg_max`` (default 16) and ``featmap_strides`` (default
            (8, 16, 32)) are read here too.
        prior_offset (float): Offset of the anchor point inside its cell. Defaults to 0.5.
        loss_cls (dict, optional): Classification loss. Defaults to
            ``BCEWithLogitsLoss(reduction='mean', loss_weight=0.5)``.
        loss_bbox (dict, optional): Box loss. Defaults to
            ``IoULoss(iou_mode='ciou', reduction='mean', loss_weight=7.5)``.
        loss_dfl (dict, optional): DFL. Defaults to
            ``DistributionFocalLoss(reduction='mean', loss_weight=1.5)``.
        train_cfg (dict, optional): ``dict(assigner=...)``; the assigner's ``num_classes``
            defaults to the head's. Defaults to ``TaskAlignedAssigner(topk=10, alpha=0.5,
            beta=6.0, eps=1e-9)``.
        test_cfg (dict, optional): ``multi_label``, ``nms_pre``, ``score_thr``,
            ``nms=dict(iou_threshold=...)``, ``max_per_img``. Defaults to ``dict(
            multi_label=True, nms_pre=30000, score_thr=0.001, nms=dict(type='nms',
            iou_threshold=0.7), max_per_img=300)``.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 head_module: dict,
                 prior_offset: float = 0.5,
                 loss_cls: Optional[dict] = None,
                 loss_bbox: Optional[dict] = None,
                 loss_dfl: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if 'num_classes' not in head_module:
            raise ValueError('YOLOv8Head: head_module must set num_classes')
        self.num_classes = int(head_module['num_classes'])
        self.reg_max = int(head_module.get('reg_max', 16))
        self.featmap_strides = tuple(head_module.get('featmap_strides', (8, 16, 32)))
        self.prior_offset = prior_offset
        self.head_module = MODELS.build(head_module)
        self.loss_cls = MODELS.build(copy.deepcopy(loss_cls or DEFAULT_LOSS_CLS))
        self.loss_bbox = MODELS.build(copy.deepcopy(loss_bbox or DEFAULT_LOSS_BBOX))
        self.loss_dfl = MODELS.build(copy.deepcopy(loss_dfl or DEFAULT_LOSS_DFL))
        self.train_cfg = copy.deepcopy(DEFAULT_TRAIN_CFG if train_cfg is None else train_cfg)
        self.test_cfg = copy.deepcopy(DEFAULT_TEST_CFG if test_cfg is None else test_cfg)
        assigner_cfg = copy.deepcopy(self.train_cfg.get('assigner', DEFAULT_TRAIN_CFG['assigner']))
        assigner_cfg.setdefault('num_classes', self.num_classes)
        self.assigner = TASK_UTILS.build(assigner_cfg)
        self.register_buffer('proj', torch.arange(self.reg_max, dtype=torch.float),
                             persistent=False)
        self._prior_cache: Dict[tuple, Priors] = {}

    def forward(self, x: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """Raw predictions of ``head_module``.

        Args:
            x (Sequence[Tensor]): Neck maps, level ``i`` [B, C_i, H_i, W_i].

        Returns:
            tuple: ``cls_scores`` (list of [B, num_classes, H_i, W_i] logits) and
            ``bbox_dist_preds`` (list of [B, 4 * reg_max, H_i, W_i] bin logits).
        """
        return self.head_module(x)

    def loss(self, x: Sequence[Tensor], batch_data_samples: Sequence) -> Dict[str, Tensor]:
        """Forward and compute the losses.

        Args:
            x (Sequence[Tensor]): Neck maps.
            batch_data_samples (Sequence[DetDataSample]): With ``gt_instances``.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_dfl``.
        """
        cls_scores, bbox_dist_preds = self(x)
        return self.loss_by_feat(cls_scores, bbox_dist_preds,
                                 [s.gt_instances for s in batch_data_samples],
                                 [s.metainfo for s in batch_data_samples])

    def predict(self, x: Sequence[Tensor], batch_data_samples: Sequence,
                rescale: bool = True) -> List[InstanceData]:
        """Forward and decode detections.

        Args:
            x (Sequence[Tensor]): Neck maps.
            batch_data_samples (Sequence[DetDataSample]): Give the image metas.
            rescale (bool): Map boxes to the original image. Defaults to True.

        Returns:
            list[InstanceData]: Per image ``bboxes`` [K, 4], ``scores`` [K], ``labels`` [K].
        """
        cls_scores, bbox_dist_preds = self(x)
        return self.predict_by_feat(cls_scores, bbox_dist_preds,
                                    [s.metainfo for s in batch_data_samples], rescale=rescale)

    def priors(self, featmap_sizes: Sequence[Tuple[int, int]], dtype: torch.dtype,
               device: torch.device) -> Priors:
        """Anchor points of all levels, level-major then row-major (cached per sizes).

        Args:
            featmap_sizes (Sequence[tuple[int, int]]): (H_i, W_i) of each level.
            dtype (torch.dtype): Dtype of the points.
            device (torch.device): Device of the points.

        Returns:
            tuple: grid points [A, 2] (x, y) in stride units, strides [A, 1], and points
            [A, 2] in pixels (grid points times stride).
        """
        key = (tuple(tuple(s) for s in featmap_sizes), dtype, device)
        if key not in self._prior_cache:
            if len(featmap_sizes) != len(self.featmap_strides):
                raise ValueError(f'YOLOv8Head: {len(featmap_sizes)} feature maps but '
                                 f'{len(self.featmap_strides)} featmap_strides')
            points, strides = [], []
            for (h, w), stride in zip(featmap_sizes, self.featmap_strides):
                sx = torch.arange(w, dtype=dtype, device=device) + self.prior_offset
                sy = torch.arange(h, dtype=dtype, device=device) + self.prior_offset
                sy, sx = torch.meshgrid(sy, sx, indexing='ij')
                points.append(torch.stack((sx, sy), -1).view(-1, 2))
                strides.append(torch.full((h * w, 1), stride, dtype=dtype, device=device))
            points, strides = torch.cat(points), torch.cat(strides)
            if len(self._prior_cache) >= 8:  # multi-scale training: keep the cache small
                self._prior_cache.clear()
            self._prior_cache[key] = (points, strides, points * strides)
        return self._prior_cache[key]

    def _flatten(self, cls_scores: Sequence[Tensor], bbox_dist_preds: Sequence[Tensor]
                 ) -> Tuple[Tensor, Tensor, Priors]:
        """Concatenate the levels: logits [B, A, C], bin logits [B, A, 4 * reg_max], priors."""
        if len(cls_scores) != len(bbox_dist_preds):
            raise ValueError(f'YOLOv8Head: {len(cls_scores)} class maps but '
                             f'{len(bbox_dist_preds)} box maps')
        flat_cls = torch.cat([c.flatten(2).transpose(1, 2) for c in cls_scores], 1).float()
        flat_dist = torch.cat([d.flatten(2).transpose(1, 2) for d in bbox_dist_preds], 1).float()
        priors = self.priors([c.shape[2:] for c in cls_scores], flat_cls.dtype, flat_cls.device)
        return flat_cls, flat_dist, priors

    def decode_bboxes(self, flat_dist: Tensor, grid_points: Tensor) -> Tensor:
        """DFL integral and distance-to-box decoding.

        Args:
            flat_dist (Tensor): [B, A, 4 * reg_max] bin logits (side-major: l, t, r, b).
            grid_points (Tensor): [A, 2] anchor points in stride units.

        Returns:
            Tensor: [B, A, 4] xyxy boxes in stride units.
        """
        bs, num_anchors, _ = flat_dist.shape
        prob = flat_dist.view(bs, num_anchors, 4, self.reg_max).softmax(-1)
        ltrb = prob.matmul(self.proj.to(prob.dtype))  # [B, A, 4]
        return torch.cat((grid_points - ltrb[..., :2], grid_points + ltrb[..., 2:]), -1)

    def loss_by_feat(self, cls_scores: Sequence[Tensor], bbox_dist_preds: Sequence[Tensor],
                     batch_gt_instances: Sequence[InstanceData],
                     batch_img_metas: Sequence[dict]) -> Dict[str, Tensor]:
        """Losses of a batch from the raw predictions.

        Args:
            cls_scores (Sequence[Tensor]): Per level [B, num_classes, H_i, W_i] logits.
            bbox_dist_preds (Sequence[Tensor]): Per level [B, 4 * reg_max, H_i, W_i].
            batch_gt_instances (Sequence[InstanceData]): Per image ``bboxes`` [N, 4] xyxy in
                input pixels and ``labels`` [N].
            batch_img_metas (Sequence[dict]): Per image metas (only their number is used).

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_dfl`` (scalars, see the
            class docstring for the scaling).
        """
        num_imgs = cls_scores[0].shape[0]
        if len(batch_gt_instances) != num_imgs or len(batch_img_metas) != num_imgs:
            raise ValueError(f'YOLOv8Head: {num_imgs} images in the predictions but '
                             f'{len(batch_gt_instances)} gt_instances and '
                             f'{len(batch_img_metas)} metas')
        flat_cls, flat_dist, (grid_points, strides, points) = self._flatten(
            cls_scores, bbox_dist_preds)
        pred_bboxes = self.decode_bboxes(flat_dist, grid_points)  # [B, A, 4], stride units
        gt_labels, gt_bboxes, mask_gt = self._pad_gts(batch_gt_instances, flat_cls.device)
        real_labels = gt_labels[mask_gt]
        bad = real_labels[(real_labels < 0) | (real_labels >= self.num_classes)]
        if bad.numel():
            raise ValueError(f'YOLOv8Head: GT label {int(bad[0])} outside '
                             f'[0, {self.num_classes}) (num_classes={self.num_classes})')

        assigned = self.assigner(flat_cls.detach().sigmoid(),
                                 pred_bboxes.detach() * strides, points,
                                 gt_labels, gt_bboxes, mask_gt)
        assigned_scores = assigned.assigned_scores
        avg_factor = assigned_scores.sum().clamp(min=1)

        loss_cls = self.loss_cls(flat_cls, assigned_scores, avg_factor=avg_factor)

        fg_img, fg_anchor = assigned.fg_mask.nonzero(as_tuple=True)
        fg_weight = assigned_scores[fg_img, fg_anchor, assigned.assigned_labels[fg_img, fg_anchor]]
        fg_strides = strides[fg_anchor]
        target_bboxes = assigned.assigned_bboxes[fg_img, fg_anchor] / fg_strides
        loss_bbox = self.loss_bbox(pred_bboxes[fg_img, fg_anchor], target_bboxes,
                                   weight=fg_weight, avg_factor=avg_factor)

        fg_points = grid_points[fg_anchor]
        target_ltrb = torch.cat(
            (fg_points - target_bboxes[:, :2], target_bboxes[:, 2:] - fg_points),
            -1).clamp_(0, self.reg_max - 1 - 0.01)
        pred_dist = flat_dist[fg_img, fg_anchor].reshape(-1, self.reg_max)
        loss_dfl = self.loss_dfl(pred_dist, target_ltrb.reshape(-1),
                                 weight=fg_weight[:, None].expand(-1, 4).reshape(-1),
                                 avg_factor=avg_factor * 4)

        scale = global_batch_scale(num_imgs, get_world_size())
        return dict(loss_cls=loss_cls * scale, loss_bbox=loss_bbox * scale,
                    loss_dfl=loss_dfl * scale)

    @staticmethod
    def _pad_gts(batch_gt_instances: Sequence[InstanceData],
                 device: torch.device) -> Tuple[Tensor, Tensor, Tensor]:
        """Pad per-image GTs to ``M = max count`` (vectorised, no per-box loop).

        Returns:
            tuple: labels [B, M, 1] (int64), boxes [B, M, 4] (float32, zero padding) and
            the real-GT mask [B, M, 1] (bool).
        """
        num_imgs = len(batch_gt_instances)
        counts = [len(g.bboxes) for g in batch_gt_instances]
        max_boxes = max(counts, default=0)
        labels = torch.zeros((num_imgs, max_boxes, 1), dtype=torch.long, device=device)
        bboxes = torch.zeros((num_imgs, max_boxes, 4), dtype=torch.float, device=device)
        mask = torch.zeros((num_imgs, max_boxes, 1), dtype=torch.bool, device=device)
        if max_boxes == 0:
            return labels, bboxes, mask
        counts_t = torch.tensor(counts, device=device)
        img = torch.repeat_interleave(torch.arange(num_imgs, device=device), counts_t)
        slot = torch.arange(img.numel(), device=device) - (counts_t.cumsum(0) - counts_t)[img]
        labels[img, slot, 0] = torch.cat([g.labels for g in batch_gt_instances]).to(device).long()
        bboxes[img, slot] = torch.cat([g.bboxes for g in batch_gt_instances]).to(
            device=device, dtype=torch.float)
        mask[img, slot] = True
        return labels, bboxes, mask

    def predict_by_feat(self, cls_scores: Sequence[Tensor], bbox_dist_preds: Sequence[Tensor],
                        batch_img_metas: Sequence[dict], cfg: Optional[dict] = None,
                        rescale: bool = True, with_nms: bool = True) -> List[InstanceData]:
        """Detections per image from the raw predictions.

        Scores are sigmoid probabilities; ``multi_label`` keeps every (anchor, class) above
        ``score_thr`` (else the best class per anchor); the ``nms_pre`` best go through
        class-wise NMS (``torchvision.ops.batched_nms``) and the ``max_per_img`` best are
        kept. With ``rescale`` the boxes are mapped back to the original image
        (``(box - [left, top, left, top]) / [w_scale, h_scale, w_scale, h_scale]`` from the
        metas' ``pad_param`` and ``scale_factor``) and, after NMS, clipped to ``ori_shape``.

        Args:
            cls_scores (Sequence[Tensor]): Per level [B, num_classes, H_i, W_i] logits.
            bbox_dist_preds (Sequence[Tensor]): Per level [B, 4 * reg_max, H_i, W_i].
            batch_img_metas (Sequence[dict]): Per image metas.
            cfg (dict, optional): Replaces ``test_cfg``. Defaults to None.
            rescale (bool): Map boxes to the original image. Defaults to True.
            with_nms (bool): Apply NMS. Defaults to True.

        Returns:
            list[InstanceData]: Per image ``bboxes`` [K, 4] xyxy, ``scores`` [K], ``labels``
            [K] (int64), sorted by decreasing score.
        """
        cfg = self.test_cfg if cfg is None else cfg
        score_thr = cfg.get('score_thr', -1.0)
        nms_pre = cfg.get('nms_pre', -1)
        max_per_img = cfg.get('max_per_img', -1)
        iou_thr = cfg.get('nms', {}).get('iou_threshold', 0.7)
        flat_cls, flat_dist, (grid_points, strides, _) = self._flatten(
            cls_scores, bbox_dist_preds)
        scores = flat_cls.sigmoid()  # [B, A, C]
        bboxes = self.decode_bboxes(flat_dist, grid_points) * strides  # [B, A, 4] pixels

        results = []
        for img_scores, img_bboxes, meta in zip(scores, bboxes, batch_img_metas):
            if cfg.get('multi_label', True):
                keep = img_scores > score_thr
                anchors, labels = keep.nonzero(as_tuple=True)
                kept_scores = img_scores[keep]
            else:
                kept_scores, labels = img_scores.max(1)
                anchors = (kept_scores > score_thr).nonzero(as_tuple=True)[0]
                kept_scores, labels = kept_scores[anchors], labels[anchors]
            if 0 < nms_pre < kept_scores.numel():
                kept_scores, top = kept_scores.topk(nms_pre)
                anchors, labels = anchors[top], labels[top]
            img_bboxes = img_bboxes[anchors]
            if rescale:
                img_bboxes = self._rescale(img_bboxes, meta)
            if with_nms:
                order = batched_nms(img_bboxes, kept_scores, labels, iou_thr)
            else:
                order = kept_scores.argsort(descending=True)
            if max_per_img > 0:
                order = order[:max_per_img]
            img_bboxes = img_bboxes[order]
            if rescale and 'ori_shape' in meta:
                height, width = meta['ori_shape'][:2]
                img_bboxes[:, 0::2] = img_bboxes[:, 0::2].clamp(0, width)
                img_bboxes[:, 1::2] = img_bboxes[:, 1::2].clamp(0, height)
            results.append(InstanceData(bboxes=img_bboxes, scores=kept_scores[order],
                                        labels=labels[order]))
        return results

    @staticmethod
    def _rescale(bboxes: Tensor, meta: dict) -> Tensor:
        """Map [K, 4] input-image boxes to the original image (undo letterbox and resize)."""
        top, _, left, _ = (float(v) for v in meta.get('pad_param', (0, 0, 0, 0)))
        w_scale, h_scale = (float(v) for v in meta.get('scale_factor', (1.0, 1.0)))
        return ((bboxes - bboxes.new_tensor([left, top, left, top]))
                / bboxes.new_tensor([w_scale, h_scale, w_scale, h_scale]))
