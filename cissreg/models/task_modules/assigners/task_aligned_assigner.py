"""Task-aligned label assignment (TOOD, Feng et al. ICCV 2021) as used by YOLOv8."""
from typing import NamedTuple

import torch
from torch import Tensor, nn

from cissreg.models.losses.iou_loss import aligned_bbox_iou
from cissreg.registry import TASK_UTILS


class TaskAlignedAssignResult(NamedTuple):
    """Output of :class:`TaskAlignedAssigner` (B images, A anchors, C classes).

    Attributes:
        assigned_labels (Tensor): ``[B, A]`` int64 class of the assigned GT; background
            anchors hold ``num_classes``.
        assigned_bboxes (Tensor): ``[B, A, 4]`` xyxy box of the assigned GT; zeros for
            background anchors.
        assigned_scores (Tensor): ``[B, A, C]`` soft one-hot targets: the assigned class
            holds the normalised align metric, everything else (and background) is 0.
        fg_mask (Tensor): ``[B, A]`` bool, True for positive anchors.
        assigned_gt_idxs (Tensor): ``[B, A]`` int64 index into the image's GT list;
            0 for background anchors (check ``fg_mask``).
    """

    assigned_labels: Tensor
    assigned_bboxes: Tensor
    assigned_scores: Tensor
    fg_mask: Tensor
    assigned_gt_idxs: Tensor


@TASK_UTILS.register_module()
class TaskAlignedAssigner(nn.Module):
    """Assign GT boxes to anchor points by the task-aligned metric ``s^alpha * IoU^beta``.

    For every valid GT, the candidates are the anchor centres strictly inside it; their align
    metric uses the predicted probability ``s`` of the GT's class and the CIoU (clamped at 0)
    between the GT and the anchor's predicted box (0 for non-candidates). Of the ``topk``
    anchors of largest metric, those inside the GT are positive. An anchor positive for several
    GTs goes to the image's GT of largest CIoU with its predicted box (the first on ties, so
    GT 0 when all are 0). The assigned class's target score is
    ``metric * max_IoU(gt) / (max_metric(gt) + eps)`` where both maxima run over the GT's
    positive anchors.

    The outputs equal ultralytics ``TaskAlignedAssigner`` (8.3.x), including its ties (same
    dense ``torch.topk``), on every foreground anchor and for ``assigned_scores``, ``fg_mask``
    and ``assigned_gt_idxs`` everywhere; background labels / boxes are set to
    ``num_classes`` / zeros where ultralytics leaves the values of GT 0.

    Only the sparse (GT, anchor-inside-GT) pairs are evaluated: no Python loop over images or
    boxes, no ``[B, M, A, 4]`` temporaries.

    Args:
        num_classes (int): Number of classes ``C``.
        topk (int): Positive anchors per GT at most. Defaults to 10.
        alpha (float): Exponent of the class probability. Defaults to 0.5.
        beta (float): Exponent of the IoU. Defaults to 6.0.
        eps (float): Stabiliser of the normalisation. Defaults to 1e-9.
    """

    def __init__(self, num_classes: int, topk: int = 10, alpha: float = 0.5,
                 beta: float = 6.0, eps: float = 1e-9) -> None:
        super().__init__()
        if num_classes < 1 or topk < 1:
            raise ValueError(f'num_classes and topk must be >= 1, got {num_classes}, {topk}')
        self.num_classes = num_classes
        self.topk = topk
        self.alpha = alpha
        self.beta = beta
        self.eps = eps

    @torch.no_grad()
    def forward(self, pd_scores: Tensor, pd_bboxes: Tensor, anc_points: Tensor,
                gt_labels: Tensor, gt_bboxes: Tensor, mask_gt: Tensor) -> TaskAlignedAssignResult:
        """Assign the (padded) GTs of a batch.

        Args:
            pd_scores (Tensor): ``[B, A, C]`` predicted class *probabilities* (sigmoid
                outputs, never logits: a negative logit to a fractional power is NaN).
            pd_bboxes (Tensor): ``[B, A, 4]`` predicted xyxy boxes in pixels.
            anc_points (Tensor): ``[A, 2]`` anchor centres (x, y) in pixels.
            gt_labels (Tensor): ``[B, M, 1]`` GT classes (any numeric dtype).
            gt_bboxes (Tensor): ``[B, M, 4]`` GT xyxy boxes in pixels, padded with zeros.
            mask_gt (Tensor): ``[B, M, 1]`` 1 / True for real GTs, 0 / False for padding.

        Returns:
            TaskAlignedAssignResult: See its docstring for the shapes.
        """
        bs, num_anchors, num_classes = pd_scores.shape
        max_boxes = gt_bboxes.shape[1]
        if num_classes != self.num_classes:
            raise ValueError(f'pd_scores has {num_classes} classes, the assigner was built '
                             f'with num_classes={self.num_classes}')
        if pd_bboxes.shape != (bs, num_anchors, 4) or anc_points.shape != (num_anchors, 2):
            raise ValueError(f'expected pd_bboxes [{bs}, {num_anchors}, 4] and anc_points '
                             f'[{num_anchors}, 2], got {tuple(pd_bboxes.shape)} and '
                             f'{tuple(anc_points.shape)}')
        device = pd_scores.device
        labels_out = torch.full((bs, num_anchors), num_classes, dtype=torch.long, device=device)
        bboxes_out = gt_bboxes.new_zeros((bs, num_anchors, 4))
        scores_out = pd_scores.new_zeros((bs, num_anchors, num_classes))
        fg_out = torch.zeros((bs, num_anchors), dtype=torch.bool, device=device)
        gt_idx_out = torch.zeros((bs, num_anchors), dtype=torch.long, device=device)
        result = TaskAlignedAssignResult(labels_out, bboxes_out, scores_out, fg_out, gt_idx_out)
        if max_boxes == 0 or num_anchors == 0:
            return result

        num_gts = bs * max_boxes
        flat_labels = gt_labels.reshape(num_gts).long()
        flat_gt_bboxes = gt_bboxes.reshape(num_gts, 4)
        valid = mask_gt.reshape(num_gts).bool()

        # candidate pairs (anchor a, gt g = b * M + m): anchor centre strictly inside a real GT
        inside = self._inside_gts(anc_points, flat_gt_bboxes, valid[None])
        pair_anchor, pair_gt = inside.nonzero(as_tuple=True)  # sorted by (a, g)
        if pair_gt.numel() == 0:
            return result
        pair_img = torch.div(pair_gt, max_boxes, rounding_mode='floor')
        pair_key = pair_img * num_anchors + pair_anchor  # flat (b, a)
        overlaps = aligned_bbox_iou(flat_gt_bboxes.index_select(0, pair_gt),
                                    pd_bboxes.reshape(-1, 4).index_select(0, pair_key),
                                    'ciou').clamp_(0)
        pair_scores = pd_scores.reshape(-1).index_select(
            0, pair_key * num_classes + flat_labels.index_select(0, pair_gt))
        metrics = pair_scores.pow(self.alpha) * overlaps.pow(self.beta)

        # top-k per real GT over its dense metric row (zeros outside the pairs), as ultralytics
        real_gts = valid.nonzero(as_tuple=True)[0]  # [R]
        row_of_gt = valid.cumsum(0) - 1  # real GT -> row of the dense metric
        dense_metric = metrics.new_zeros((real_gts.numel(), num_anchors))
        dense_metric.view(-1)[row_of_gt[pair_gt] * num_anchors + pair_anchor] = metrics
        topk_idx = dense_metric.topk(min(self.topk, num_anchors), dim=-1)[1]  # [R, k]
        gt_ids = real_gts[:, None].expand_as(topk_idx)
        is_pos = inside[topk_idx, gt_ids]
        pos_gt = gt_ids[is_pos]
        pos_anchor = topk_idx[is_pos]
        pos_img = torch.div(pos_gt, max_boxes, rounding_mode='floor')
        pos_key = pos_img * num_anchors + pos_anchor  # flat (b, a)

        # one GT per anchor; several -> argmax of CIoU over all GTs (first index on ties)
        counts = torch.bincount(pos_key, minlength=bs * num_anchors)
        assigned_m = torch.zeros(bs * num_anchors, dtype=torch.long, device=device)
        assigned_m[pos_key] = pos_gt - pos_img * max_boxes
        multi = counts > 1
        if bool(multi.any()):
            self._resolve_multi(assigned_m, multi, pair_key, pair_gt - pair_img * max_boxes,
                                overlaps, max_boxes)

        fg_key = (counts > 0).nonzero(as_tuple=True)[0]
        fg_img = torch.div(fg_key, num_anchors, rounding_mode='floor')
        fg_anchor = fg_key - fg_img * num_anchors
        fg_m = assigned_m[fg_key]
        fg_gt = fg_img * max_boxes + fg_m
        # (a GT-0 fallback of _resolve_multi may name a padded GT: no pair, metric 0)
        fg_metric = torch.where(valid[fg_gt],
                                dense_metric[row_of_gt[fg_gt].clamp_(min=0), fg_anchor], 0)
        fg_overlap = self._pair_lookup(pair_anchor * num_gts + pair_gt, overlaps,
                                       fg_anchor * num_gts + fg_gt)

        # normalise by the GT's best metric and best IoU over its positive anchors
        max_metric = metrics.new_zeros(num_gts).scatter_reduce_(0, fg_gt, fg_metric, 'amax')
        max_overlap = overlaps.new_zeros(num_gts).scatter_reduce_(0, fg_gt, fg_overlap, 'amax')
        norm_metric = fg_metric * max_overlap[fg_gt] / (max_metric[fg_gt] + self.eps)

        fg_labels = flat_labels[fg_gt]
        fg_out.view(-1)[fg_key] = True
        gt_idx_out.view(-1)[fg_key] = fg_m
        labels_out.view(-1)[fg_key] = fg_labels
        bboxes_out.view(-1, 4)[fg_key] = flat_gt_bboxes[fg_gt]
        scores_out.view(-1)[fg_key * num_classes + fg_labels] = norm_metric.to(scores_out.dtype)
        return result

    @staticmethod
    def _inside_gts(anc_points: Tensor, gt_bboxes: Tensor, valid: Tensor,
                    eps: float = 1e-9) -> Tensor:
        """``[A, G]`` bool: anchor centre more than ``eps`` inside the GT box, GT valid.

        Separable: the x test runs once per distinct anchor x (a few hundred on a feature
        pyramid) and GT, the y test likewise, and the ``[A, G]`` mask is an AND of gathered
        rows; the comparisons are the same float operations as testing every pair.

        Args:
            anc_points (Tensor): ``[A, 2]`` anchor centres.
            gt_bboxes (Tensor): ``[G, 4]`` xyxy boxes.
            valid (Tensor): ``[1, G]`` real-GT mask.
        """
        xs, x_idx = anc_points[:, 0].unique(return_inverse=True)
        ys, y_idx = anc_points[:, 1].unique(return_inverse=True)
        x1, y1, x2, y2 = gt_bboxes.unbind(-1)
        in_x = ((xs[:, None] - x1) > eps) & ((x2 - xs[:, None]) > eps)  # [Ux, G]
        in_y = ((ys[:, None] - y1) > eps) & ((y2 - ys[:, None]) > eps) & valid.bool()
        return in_x.index_select(0, x_idx).logical_and_(in_y.index_select(0, y_idx))

    @staticmethod
    def _resolve_multi(assigned_m: Tensor, multi: Tensor, pair_key: Tensor, pair_m: Tensor,
                       overlaps: Tensor, max_boxes: int) -> None:
        """Point anchors claimed by several GTs at the GT of highest overlap, in place.

        ``argmax`` runs over every GT of the image (overlap 0 outside the candidate pairs), so
        the winner is the first GT of maximal overlap, GT 0 when all overlaps are 0.

        Args:
            assigned_m (Tensor): ``[B * A]`` per-anchor GT index, updated for ``multi``.
            multi (Tensor): ``[B * A]`` bool, anchors positive for more than one GT.
            pair_key (Tensor): ``[P]`` flat (image, anchor) key of each candidate pair.
            pair_m (Tensor): ``[P]`` GT index (within its image) of each pair.
            overlaps (Tensor): ``[P]`` clamped CIoU of each pair.
            max_boxes (int): ``M``, the padded number of GTs per image.
        """
        keep = multi[pair_key]
        key, m, ov = pair_key[keep], pair_m[keep], overlaps[keep]
        best_ov = ov.new_zeros(multi.numel()).scatter_reduce_(0, key, ov, 'amax')
        at_best = ov == best_ov[key]
        best_m = torch.full_like(assigned_m, max_boxes).scatter_reduce_(
            0, key[at_best], m[at_best], 'amin')
        multi_key = multi.nonzero(as_tuple=True)[0]
        assigned_m[multi_key] = torch.where(best_ov[multi_key] > 0, best_m[multi_key], 0)

    @staticmethod
    def _pair_lookup(sorted_keys: Tensor, values: Tensor, query: Tensor) -> Tensor:
        """``values`` at the pairs whose key equals ``query``, 0 where there is none.

        Args:
            sorted_keys (Tensor): ``[P]`` ascending unique keys.
            values (Tensor): ``[P]`` values of the keys.
            query (Tensor): ``[Q]`` keys to look up.
        """
        pos = torch.searchsorted(sorted_keys, query).clamp_(max=sorted_keys.numel() - 1)
        return torch.where(sorted_keys[pos] == query, values[pos], values.new_zeros(()))
