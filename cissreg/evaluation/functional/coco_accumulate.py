"""pycocotools' ``COCOeval.accumulate()`` for bbox: precision / recall arrays from matches.

Accumulation runs one pass per (category, maxDets) over ``[areas, thresholds, detections]``
arrays; the 101-point recall search is done exactly in the integer domain of TP counts.
"""
from typing import Sequence, Tuple

import numpy as np

from .coco_matching import CocoMatches
from .det_inputs import FlatDetections


def count_gts(flat: FlatDetections, num_classes: int, area_rngs: np.ndarray) -> np.ndarray:
    """Number of non-ignored GTs per category and area range (pycocotools' ``npig``).

    Args:
        flat (FlatDetections): the boxes of all images.
        num_classes (int): number of categories K.
        area_rngs (np.ndarray): [A, 2] area ranges, both ends inclusive.

    Returns:
        np.ndarray: [K, A] int64 counts.
    """
    gt_area = flat.gt_area
    in_rng = (gt_area[:, None] >= area_rngs[:, 0]) & (gt_area[:, None] <= area_rngs[:, 1])
    npig = np.zeros((num_classes, len(area_rngs)), dtype=np.int64)
    np.add.at(npig, flat.gt_label, (in_rng & ~flat.gt_ignore[:, None]).astype(np.int64))
    return npig


def accumulate(matches: CocoMatches, npig: np.ndarray, max_dets: Sequence[int],
               rec_thrs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``COCOeval.accumulate()``: precision and recall of every category and maxDets.

    Args:
        matches (CocoMatches): the matched detections (matched / ignored [A, T, D]).
        npig (np.ndarray): [K, A] non-ignored GTs per category and area range.
        max_dets (Sequence[int]): the M maxDets values.
        rec_thrs (np.ndarray): [R] recall thresholds.

    Returns:
        tuple[np.ndarray, np.ndarray]: precision [T, R, K, A, M] and recall [T, K, A, M],
        ``-1`` where a category has no GT in an area range.
    """
    score, label, img, rank, matched, ignored = matches
    num_classes, num_area = npig.shape
    num_thr = matched.shape[1]
    precision = -np.ones((num_thr, len(rec_thrs), num_classes, num_area, len(max_dets)))
    recall = -np.ones((num_thr, num_classes, num_area, len(max_dets)))
    # Per category: score descending, ties by image order then by rank inside the image.
    order = np.lexsort((rank, img, -score, label))
    cat_bounds = np.searchsorted(label[order], np.arange(num_classes + 1))
    for k in range(num_classes):
        seg = order[cat_bounds[k]:cat_bounds[k + 1]]
        for m, max_det in enumerate(max_dets):
            sub = seg[rank[seg] < max_det]
            prec, rec = _accumulate_category(matched[..., sub], ignored[..., sub], npig[k],
                                             rec_thrs)
            precision[:, :, k, :, m] = prec
            recall[:, k, :, m] = rec
    return precision, recall


def _count_thresholds(rec_thrs: np.ndarray, npig: int) -> np.ndarray:
    """Smallest TP count ``c`` with ``c / npig >= thr`` (float64 division) per threshold.

    ``tp / npig`` is monotone in ``tp``, so ``searchsorted(tp / npig, thr)`` equals the first
    index where the TP count reaches this value — an exact, batched form of pycocotools'
    per-row ``np.searchsorted(rc, recThrs, side='left')``.
    """
    base = np.maximum(np.floor(rec_thrs * npig).astype(np.int64) - 2, 0)
    cands = base[:, None] + np.arange(5)
    ok = cands / npig >= rec_thrs[:, None]
    return base + np.argmax(ok, axis=1)


def _accumulate_category(matched: np.ndarray, ignored: np.ndarray, npig: np.ndarray,
                         rec_thrs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """pycocotools' ``accumulate`` for one (category, maxDets).

    Args:
        matched (np.ndarray): [A, T, n] bool, detections in global score order.
        ignored (np.ndarray): [A, T, n] bool.
        npig (np.ndarray): [A] number of non-ignored GTs per area range.
        rec_thrs (np.ndarray): [R] recall thresholds.

    Returns:
        tuple[np.ndarray, np.ndarray]: precision [T, R, A] and recall [T, A], ``-1`` for the
        area ranges without GT.
    """
    num_area, num_thr, n = matched.shape
    precision = -np.ones((num_thr, len(rec_thrs), num_area))
    recall = -np.ones((num_thr, num_area))
    valid = np.flatnonzero(npig > 0)
    if len(valid) == 0:
        return precision, recall
    if n == 0:
        precision[:, :, valid] = 0
        recall[:, valid] = 0
        return precision, recall
    if len(valid) < num_area:
        matched, ignored = matched[valid], ignored[valid]  # [A', T, n]
    tp_cnt = np.cumsum(matched & ~ignored, axis=-1)
    fp_cnt = np.cumsum(~matched & ~ignored, axis=-1)
    tp, fp = tp_cnt.astype(np.float64), fp_cnt.astype(np.float64)
    n_gt = npig[valid].astype(np.float64)[:, None, None]
    recall[:, valid] = (tp[..., -1] / n_gt[..., 0]).T
    pr = tp / (fp + tp + np.spacing(1))
    pr = np.maximum.accumulate(pr[..., ::-1], axis=-1)[..., ::-1]
    # First index whose recall reaches each threshold, searched on integer TP counts.
    need = np.stack([_count_thresholds(rec_thrs, int(k)) for k in npig[valid]])  # [A', R]
    rows = num_thr * len(valid)
    band = np.arange(rows, dtype=np.int64)[:, None] * (n + 2)
    keys = (tp_cnt.reshape(rows, n) + band).ravel()
    query = np.minimum(np.repeat(need, num_thr, axis=0), n + 1) + band
    inds = np.searchsorted(keys, query.ravel(), side='left').reshape(rows, -1)
    inds -= np.arange(rows)[:, None] * n
    flat_pr = pr.reshape(rows, n)
    q = np.where(inds < n, np.take_along_axis(flat_pr, np.minimum(inds, n - 1), axis=1), 0.0)
    precision[:, :, valid] = q.reshape(len(valid), num_thr, -1).transpose(1, 2, 0)
    return precision, recall
