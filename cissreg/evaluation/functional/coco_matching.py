"""pycocotools' greedy bbox matching (``COCOeval.evaluate()``), vectorised.

The greedy matching stays sequential over the detections of one (image, category), as it
must, but all (image, category) groups, all area ranges and all IoU thresholds advance
together: step ``r`` matches the ``r``-th candidate detection of every group at once.
Detections whose best IoU is below the lowest threshold can never match and skip the loop.
Groups are bucketed by their number of ground truths, so padding stays below 2x. The
conventions are listed in :mod:`.coco_eval`.
"""
from typing import NamedTuple, Tuple

import numpy as np

from .box_pairs import expand_segments, group_order, pair_ious, segment_starts
from .det_inputs import FlatDetections


class CocoMatches(NamedTuple):
    """Output of :func:`match_detections`, for the D detections kept after the maxDets cut.

    Attributes:
        score (np.ndarray): [D] detection scores.
        label (np.ndarray): [D] category indices.
        img (np.ndarray): [D] image indices.
        rank (np.ndarray): [D] rank of the detection by score inside its (image, category).
        matched (np.ndarray): [A, T, D] bool, the detection found a GT.
        ignored (np.ndarray): [A, T, D] bool, pycocotools' ``dtIgnore`` (matched to an
            ignored GT, or unmatched and outside the area range).
    """
    score: np.ndarray
    label: np.ndarray
    img: np.ndarray
    rank: np.ndarray
    matched: np.ndarray
    ignored: np.ndarray


def _last_argmax(values: np.ndarray) -> np.ndarray:
    """Index of the last maximum along the last axis."""
    return values.shape[-1] - 1 - np.argmax(values[..., ::-1], axis=-1)


def _match_bucket(iou_rows: np.ndarray, det_group: np.ndarray, det_step: np.ndarray,
                  gt_crowd: np.ndarray, gt_ignore: np.ndarray,
                  thrs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """pycocotools' greedy matching for many (image, category) groups at once.

    Args:
        iou_rows (np.ndarray): [C, W] IoU of each candidate detection with the GTs of its
            group, ``-1`` in the padding columns.
        det_group (np.ndarray): [C] group of each detection (0..G-1).
        det_step (np.ndarray): [C] rank of the detection among its group's candidates.
        gt_crowd (np.ndarray): [G, W] crowd flag of each GT (padding: False).
        gt_ignore (np.ndarray): [G, A, W] ignore flag of each GT per area range.
        thrs (np.ndarray): [T] IoU thresholds (already capped at ``1 - 1e-10``).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``matched`` and ``matched_ignored``, both [C, A, T]
        bool: the detection found a GT, and that GT is ignored for the area range.
    """
    num_det, width = iou_rows.shape
    num_area, num_thr = gt_ignore.shape[1], len(thrs)
    matched = np.zeros((num_det, num_area, num_thr), dtype=bool)
    matched_ig = np.zeros_like(matched)
    taken = np.zeros((len(gt_crowd), num_area, num_thr, width), dtype=bool)
    order = np.argsort(det_step, kind='stable')
    bounds = np.searchsorted(det_step[order], np.arange(det_step.max() + 2))
    area_idx = np.arange(num_area)[None, :, None]
    thr_idx = np.arange(num_thr)[None, None, :]
    for step in range(len(bounds) - 1):
        sel = order[bounds[step]:bounds[step + 1]]
        grp = det_group[sel]
        iou = iou_rows[sel][:, None, None, :]  # [n, 1, 1, W]
        free = ~taken[grp] | gt_crowd[grp][:, None, None, :]  # [n, A, T, W]
        ok = free & (iou >= thrs[None, None, :, None])
        ign = gt_ignore[grp][:, :, None, :]  # [n, A, 1, W]
        # Non-ignored GTs first: best IoU, the last one on ties (pycocotools' `>=` scan).
        ok_reg = ok & ~ign
        has_reg = ok_reg.any(-1)
        best_reg = _last_argmax(np.where(ok_reg, iou, -1.0))
        ok_ign = ok & ign
        has_ign = ok_ign.any(-1)
        best_ign = _last_argmax(np.where(ok_ign, iou, -1.0))
        best = np.where(has_reg, best_reg, best_ign)  # [n, A, T]
        hit = has_reg | has_ign
        matched[sel] = hit
        matched_ig[sel] = hit & ~has_reg
        g = grp[:, None, None]
        taken[g, area_idx, thr_idx, best] |= hit
    return matched, matched_ig


def match_detections(flat: FlatDetections, num_classes: int, max_det: int, thrs: np.ndarray,
                     area_rngs: np.ndarray) -> CocoMatches:
    """Sort, cut and match every detection as pycocotools' ``COCOeval.evaluate()`` does.

    Args:
        flat (FlatDetections): the boxes of all images.
        num_classes (int): number of categories K.
        max_det (int): detections kept per (image, category), highest scores first.
        thrs (np.ndarray): [T] IoU thresholds (already capped at ``1 - 1e-10``).
        area_rngs (np.ndarray): [A, 2] area ranges, both ends inclusive.

    Returns:
        CocoMatches: per kept detection (D of them, sorted by group and score).
    """
    groups = group_order(flat, num_classes)
    starts, group = segment_starts(groups.det_key)
    rank = np.arange(len(groups.det_key)) - starts[group]
    kept = rank < max_det
    keep, det_key, rank = groups.det_order[kept], groups.det_key[kept], rank[kept]
    det_xywh = flat.det_xywh[keep]

    gt_key = groups.gt_key
    gt_xywh = flat.gt_xywh[groups.gt_order]
    gt_crowd = flat.gt_ignore[groups.gt_order]
    gt_area = flat.gt_area[groups.gt_order]
    gt_ignore = gt_crowd[:, None] | (gt_area[:, None] < area_rngs[:, 0]) | (
        gt_area[:, None] > area_rngs[:, 1])  # [N, A]

    num_area, num_thr = len(area_rngs), len(thrs)
    matched = np.zeros((len(keep), num_area, num_thr), dtype=bool)
    matched_ig = np.zeros_like(matched)
    pairs = pair_ious(det_key, det_xywh, gt_key, gt_xywh, gt_crowd)
    if len(pairs.iou):
        has_gt = np.flatnonzero(pairs.gt_count > 0)
        best = np.maximum.reduceat(pairs.iou, pairs.offset[has_gt])
        cand = has_gt[best >= thrs.min()]
        # Candidates stay in (group, score) order; bucket groups by their number of GTs.
        bucket = np.ceil(np.log2(pairs.gt_count[cand])).astype(np.int64)
        for b in np.unique(bucket):
            c = cand[bucket == b]
            gstart = pairs.gt_start[c]
            g_first, grp = segment_starts(gstart)
            step = np.arange(len(c)) - g_first[grp]
            cnt = pairs.gt_count[c]
            width = int(cnt.max())
            rows = np.full((len(c), width), -1.0)
            row, col = expand_segments(cnt)
            rows[row, col] = pairs.iou[pairs.offset[c][row] + col]
            g_cnt = cnt[g_first]
            g_row, g_col = expand_segments(g_cnt)
            g_gt = gstart[g_first][g_row] + g_col
            crowd = np.zeros((len(g_first), width), dtype=bool)
            crowd[g_row, g_col] = gt_crowd[g_gt]
            ign = np.ones((len(g_first), num_area, width), dtype=bool)
            ign[g_row, :, g_col] = gt_ignore[g_gt]
            m, mi = _match_bucket(rows, grp, step, crowd, ign, thrs)
            matched[c], matched_ig[c] = m, mi

    det_area = det_xywh[:, 2] * det_xywh[:, 3]
    out_of_rng = (det_area[:, None] < area_rngs[:, 0]) | (det_area[:, None] > area_rngs[:, 1])
    ignored = matched_ig | (~matched & out_of_rng[:, :, None])
    # Detections last: accumulation gathers and scans along that axis.
    matched = np.ascontiguousarray(matched.transpose(1, 2, 0))
    ignored = np.ascontiguousarray(ignored.transpose(1, 2, 0))
    return CocoMatches(flat.det_score[keep], flat.det_label[keep], flat.det_img[keep], rank,
                       matched, ignored)
