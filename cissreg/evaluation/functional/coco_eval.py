"""COCO-style and VOC-style bounding-box evaluation, vectorised with numpy.

:func:`coco_bbox_eval` reproduces pycocotools' ``COCOeval`` (``iouType='bbox'``:
``evaluate()`` + ``accumulate()`` + ``summarize()``) number for number, without building a COCO
index and without pycocotools' Python loops over images x categories x area ranges x IoU
thresholds x detections x ground truths:

* IoUs are computed for every (detection, ground truth) pair of the same image and category
  in one vectorised pass, with the formula of pycocotools' C ``bbIou`` (boxes as ``xywh``,
  no ``+1``; for a crowd ground truth the union is the detection's area).
* The greedy matching stays sequential over the detections of one (image, category), as it
  must, but all (image, category) groups, all area ranges and all IoU thresholds advance
  together: step ``r`` matches the ``r``-th candidate detection of every group at once.
  Detections whose best IoU is below the lowest threshold can never match and skip the loop.
  Groups are bucketed by their number of ground truths, so padding stays below 2x.
* Accumulation runs one pass per (category, maxDets) over ``[areas, thresholds, detections]``
  arrays; the 101-point recall search is done exactly in the integer domain of TP counts.

Conventions (identical to pycocotools on a GT json built as mmdet's ``CocoMetric`` builds it):

* A ground truth's area is its box area ``w * h`` (mmdet's ``gt_to_coco_json`` writes the same
  ``area``; real COCO jsons store the segmentation area instead, which this module never sees).
  A detection's area is ``w * h`` too (pycocotools' ``loadRes``).
* ``ignore_flag = 1`` on a ground truth means COCO's ``iscrowd = 1``: it is ignored, its IoU
  with a detection is ``intersection / detection area`` and it can absorb several detections.
* Detections of one (image, category) are ranked by score, highest first, ties in input
  order (stable mergesort), and cut to ``max_dets[-1]``. Ground truths keep their input order;
  within a group the non-ignored ones are tried first.
* A detection takes the free GT of highest IoU with ``IoU >= min(thr, 1 - 1e-10)``, the last
  such GT on equal IoUs (pycocotools' scan); an ignored GT only when no regular one
  qualifies. Unmatched detections outside an area range are ignored for that range.
* Images are evaluated in the order given (pycocotools sorts by image id: callers sort
  first); this order breaks score ties between images.
* Categories are ``0 .. num_classes - 1``; a category without (non-ignored) ground truth gives
  ``-1`` in ``precision`` / ``recall`` and is left out of the means, as in pycocotools.

:func:`voc_map` is the VOC-style (mmdet ``eval_map``) mean AP at one IoU threshold.
"""
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'COCO_AREA_RANGES', 'COCO_STAT_NAMES', 'CocoEvalResult', 'VocMapResult', 'coco_bbox_eval',
    'voc_map'
]

ArrayList = Sequence[np.ndarray]

#: pycocotools' area ranges (``Params.areaRng``), both ends inclusive.
COCO_AREA_RANGES: Tuple[Tuple[str, float, float], ...] = (
    ('all', 0.0, 1e5**2),
    ('small', 0.0, 32.0**2),
    ('medium', 32.0**2, 96.0**2),
    ('large', 96.0**2, 1e5**2),
)

#: Names of the 12 numbers of ``COCOeval.stats``, in order.
COCO_STAT_NAMES: Tuple[str, ...] = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10',
                                    'AR100', 'ARs', 'ARm', 'ARl')


class CocoEvalResult(NamedTuple):
    """Output of :func:`coco_bbox_eval`.

    Attributes:
        stats (np.ndarray): [12] the numbers of ``COCOeval.stats`` (see ``COCO_STAT_NAMES``),
            ``-1`` where pycocotools gives ``-1``.
        precision (np.ndarray): [T, R, K, A, M] interpolated precision at the 101 recall
            thresholds (``COCOeval.eval['precision']``), ``-1`` for a category without GT.
        recall (np.ndarray): [T, K, A, M] final recall (``COCOeval.eval['recall']``).
        classwise_ap (np.ndarray): [K] AP@[iou_thrs] per category (area 'all', the largest
            maxDets), ``-1`` for a category without GT.
        iou_thrs (np.ndarray): [T] the IoU thresholds used.
        num_gts (np.ndarray): [K] number of non-ignored ground truths per category.
        num_dets (np.ndarray): [K] number of evaluated detections per category (after the
            per-image ``max_dets[-1]`` cut).
    """
    stats: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    classwise_ap: np.ndarray
    iou_thrs: np.ndarray
    num_gts: np.ndarray
    num_dets: np.ndarray


class VocMapResult(NamedTuple):
    """Output of :func:`voc_map`.

    Attributes:
        mean_ap (float): mean of ``ap`` over the categories with ground truth; ``-1`` when
            no category has any.
        ap (np.ndarray): [K] AP per category, ``-1`` for a category without GT.
        num_gts (np.ndarray): [K] number of non-ignored ground truths per category.
    """
    mean_ap: float
    ap: np.ndarray
    num_gts: np.ndarray


class _Flat(NamedTuple):
    """All images' boxes in flat arrays (boxes as float64 ``xywh``)."""
    gt_xywh: np.ndarray  # [N, 4]
    gt_label: np.ndarray  # [N] int64
    gt_img: np.ndarray  # [N] int64
    gt_ignore: np.ndarray  # [N] bool
    det_xywh: np.ndarray  # [D, 4]
    det_score: np.ndarray  # [D] float64
    det_label: np.ndarray  # [D] int64
    det_img: np.ndarray  # [D] int64


def _xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def _cat_images(arrays: ArrayList, dtype: type, tail: Tuple[int, ...],
                what: str) -> Tuple[np.ndarray, np.ndarray]:
    parts = [np.asarray(a, dtype=dtype).reshape((-1, ) + tail) for a in arrays]
    counts = np.array([len(p) for p in parts], dtype=np.int64)
    if len(parts) == 0:
        return np.zeros((0, ) + tail, dtype=dtype), counts
    out = np.concatenate(parts, axis=0)
    if dtype is np.float64 and not np.isfinite(out).all():
        raise ValueError(f'{what} contain NaN or inf values')
    return out, counts


def _flatten(gt_bboxes: ArrayList, gt_labels: ArrayList, gt_ignore_flags: Optional[ArrayList],
             det_bboxes: ArrayList, det_scores: ArrayList, det_labels: ArrayList,
             num_classes: int) -> _Flat:
    n_img = len(gt_bboxes)
    lengths = {len(gt_labels), len(det_bboxes), len(det_scores), len(det_labels)}
    if gt_ignore_flags is not None:
        lengths.add(len(gt_ignore_flags))
    if lengths != {n_img}:
        raise ValueError('per-image sequences must all have one entry per image, got lengths '
                         f'{sorted(lengths | {n_img})}')
    gt_box, gt_cnt = _cat_images(gt_bboxes, np.float64, (4, ), 'gt_bboxes')
    gt_label, gt_lcnt = _cat_images(gt_labels, np.int64, (), 'gt_labels')
    if gt_ignore_flags is None:
        gt_ignore, gt_icnt = np.zeros(len(gt_box), dtype=bool), gt_cnt
    else:
        gt_ignore, gt_icnt = _cat_images(gt_ignore_flags, bool, (), 'gt_ignore_flags')
    det_box, det_cnt = _cat_images(det_bboxes, np.float64, (4, ), 'det_bboxes')
    det_score, det_scnt = _cat_images(det_scores, np.float64, (), 'det_scores')
    det_label, det_lcnt = _cat_images(det_labels, np.int64, (), 'det_labels')
    if not (np.array_equal(gt_cnt, gt_lcnt) and np.array_equal(gt_cnt, gt_icnt)):
        raise ValueError('gt_bboxes, gt_labels and gt_ignore_flags disagree on the number of '
                         'ground truths of some image')
    if not (np.array_equal(det_cnt, det_scnt) and np.array_equal(det_cnt, det_lcnt)):
        raise ValueError('det_bboxes, det_scores and det_labels disagree on the number of '
                         'detections of some image')
    for name, lab in (('gt_labels', gt_label), ('det_labels', det_label)):
        if lab.size and (lab.min() < 0 or lab.max() >= num_classes):
            raise ValueError(f'{name} must lie in [0, {num_classes}), got values in '
                             f'[{lab.min()}, {lab.max()}]')
    img = np.arange(n_img, dtype=np.int64)
    return _Flat(
        gt_xywh=_xyxy_to_xywh(gt_box),
        gt_label=gt_label,
        gt_img=np.repeat(img, gt_cnt),
        gt_ignore=gt_ignore,
        det_xywh=_xyxy_to_xywh(det_box),
        det_score=det_score,
        det_label=det_label,
        det_img=np.repeat(img, det_cnt))


def _iou_xywh(det: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """Element-wise IoU of paired boxes, the arithmetic of pycocotools' C ``bbIou``.

    Args:
        det (np.ndarray): [P, 4] detection boxes ``xywh``.
        gt (np.ndarray): [P, 4] ground-truth boxes ``xywh``.
        crowd (np.ndarray): [P] bool; where True the union is the detection's area.

    Returns:
        np.ndarray: [P] IoU, 0 for boxes that do not overlap.
    """
    w = np.minimum(det[:, 2] + det[:, 0], gt[:, 2] + gt[:, 0]) - np.maximum(det[:, 0], gt[:, 0])
    h = np.minimum(det[:, 3] + det[:, 1], gt[:, 3] + gt[:, 1]) - np.maximum(det[:, 1], gt[:, 1])
    overlap = (w > 0) & (h > 0)
    inter = w * h
    det_area = det[:, 2] * det[:, 3]
    union = np.where(crowd, det_area, det_area + gt[:, 2] * gt[:, 3] - inter)
    iou = np.zeros(len(det))
    np.divide(inter, union, out=iou, where=overlap)
    return iou


def _segment_starts(keys: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Start index of every run of equal values in sorted ``keys`` and each element's run."""
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(first)
    return starts, np.cumsum(first) - 1


def _expand(counts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """For segments of sizes ``counts``: each element's segment and its offset inside it."""
    seg = np.repeat(np.arange(len(counts)), counts)
    offsets = np.cumsum(counts) - counts
    return seg, np.arange(len(seg)) - offsets[seg]


class _Pairs(NamedTuple):
    """(detection, ground truth) pairs of equal (image, category), grouped by detection."""
    gt_start: np.ndarray  # [D] index of the detection's first GT in the sorted GT arrays
    gt_count: np.ndarray  # [D] number of GTs of the detection's (image, category)
    offset: np.ndarray  # [D] index of the detection's first pair (valid where gt_count > 0)
    iou: np.ndarray  # [P] IoU of each pair


def _pair_ious(det_key: np.ndarray, det_xywh: np.ndarray, gt_key: np.ndarray,
               gt_xywh: np.ndarray, gt_crowd: np.ndarray) -> _Pairs:
    """IoUs of every detection with every GT of the same group (``gt_key`` sorted)."""
    gt_start = np.searchsorted(gt_key, det_key, side='left')
    gt_count = np.searchsorted(gt_key, det_key, side='right') - gt_start
    pair_det, pair_j = _expand(gt_count)
    pair_gt = gt_start[pair_det] + pair_j
    iou = _iou_xywh(det_xywh[pair_det], gt_xywh[pair_gt], gt_crowd[pair_gt])
    return _Pairs(gt_start, gt_count, np.cumsum(gt_count) - gt_count, iou)


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


def _match_all(flat: _Flat, num_classes: int, max_det: int, thrs: np.ndarray,
               area_rngs: np.ndarray) -> Tuple[np.ndarray, ...]:
    """Sort, cut and match every detection; returns per-detection arrays (sorted order).

    Returns:
        tuple: ``(score [D], label [D], img [D], rank [D], matched [A, T, D],
        ignored [A, T, D])`` for the kept detections, ``ignored`` being pycocotools'
        ``dtIgnore`` (matched to an ignored GT, or unmatched and outside the area range).
    """
    det_key = flat.det_img * num_classes + flat.det_label
    order = np.lexsort((np.arange(len(det_key)), -flat.det_score, det_key))
    det_key = det_key[order]
    starts, group = _segment_starts(det_key)
    rank = np.arange(len(det_key)) - starts[group]
    kept = rank < max_det
    keep, det_key, rank = order[kept], det_key[kept], rank[kept]
    det_xywh = flat.det_xywh[keep]

    gt_key = flat.gt_img * num_classes + flat.gt_label
    gt_order = np.argsort(gt_key, kind='stable')
    gt_key = gt_key[gt_order]
    gt_xywh = flat.gt_xywh[gt_order]
    gt_crowd = flat.gt_ignore[gt_order]
    gt_area = gt_xywh[:, 2] * gt_xywh[:, 3]
    gt_ignore = gt_crowd[:, None] | (gt_area[:, None] < area_rngs[:, 0]) | (
        gt_area[:, None] > area_rngs[:, 1])  # [N, A]

    num_area, num_thr = len(area_rngs), len(thrs)
    matched = np.zeros((len(keep), num_area, num_thr), dtype=bool)
    matched_ig = np.zeros_like(matched)
    pairs = _pair_ious(det_key, det_xywh, gt_key, gt_xywh, gt_crowd)
    if len(pairs.iou):
        has_gt = np.flatnonzero(pairs.gt_count > 0)
        best = np.maximum.reduceat(pairs.iou, pairs.offset[has_gt])
        cand = has_gt[best >= thrs.min()]
        # Candidates stay in (group, score) order; bucket groups by their number of GTs.
        bucket = np.ceil(np.log2(pairs.gt_count[cand])).astype(np.int64)
        for b in np.unique(bucket):
            c = cand[bucket == b]
            gstart = pairs.gt_start[c]
            g_first, grp = _segment_starts(gstart)
            step = np.arange(len(c)) - g_first[grp]
            cnt = pairs.gt_count[c]
            width = int(cnt.max())
            rows = np.full((len(c), width), -1.0)
            row, col = _expand(cnt)
            rows[row, col] = pairs.iou[pairs.offset[c][row] + col]
            g_cnt = cnt[g_first]
            g_row, g_col = _expand(g_cnt)
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
    return (flat.det_score[keep], flat.det_label[keep], flat.det_img[keep], rank, matched,
            ignored)


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


def _summarize(precision: np.ndarray, recall: np.ndarray, iou_thrs: np.ndarray,
               max_dets: Sequence[int]) -> np.ndarray:
    """``COCOeval.summarize()`` for bbox: the 12 stats."""

    def mean(ap: bool, iou_thr: Optional[float] = None, area: int = 0,
             max_det: int = max_dets[2]) -> float:
        m = list(max_dets).index(max_det)
        s = precision[..., area, m] if ap else recall[..., area, m]
        if iou_thr is not None:
            s = s[np.flatnonzero(iou_thrs == iou_thr)]
        s = s[s > -1]
        return float(np.mean(s)) if s.size else -1.0

    return np.array([
        mean(True),
        mean(True, iou_thr=.5),
        mean(True, iou_thr=.75),
        mean(True, area=1),
        mean(True, area=2),
        mean(True, area=3),
        mean(False, max_det=max_dets[0]),
        mean(False, max_det=max_dets[1]),
        mean(False),
        mean(False, area=1),
        mean(False, area=2),
        mean(False, area=3),
    ])


def coco_bbox_eval(gt_bboxes: ArrayList,
                   gt_labels: ArrayList,
                   det_bboxes: ArrayList,
                   det_scores: ArrayList,
                   det_labels: ArrayList,
                   num_classes: int,
                   gt_ignore_flags: Optional[ArrayList] = None,
                   iou_thrs: Optional[Sequence[float]] = None,
                   max_dets: Sequence[int] = (1, 10, 100)) -> CocoEvalResult:
    """COCO bbox evaluation, equal to pycocotools' ``COCOeval`` (see the module docstring).

    Every argument holding per-image data is a sequence with one entry per image, in the
    order in which pycocotools would see the images (ascending image id).

    Args:
        gt_bboxes (Sequence[np.ndarray]): per image [N_i, 4] ground-truth boxes ``xyxy``.
        gt_labels (Sequence[np.ndarray]): per image [N_i] category indices.
        det_bboxes (Sequence[np.ndarray]): per image [K_i, 4] detected boxes ``xyxy``.
        det_scores (Sequence[np.ndarray]): per image [K_i] scores.
        det_labels (Sequence[np.ndarray]): per image [K_i] category indices.
        num_classes (int): number of categories K; labels lie in ``[0, K)``.
        gt_ignore_flags (Sequence[np.ndarray], optional): per image [N_i] crowd / ignore
            flags (COCO ``iscrowd``). Defaults to None (no ignored GT).
        iou_thrs (Sequence[float], optional): IoU thresholds. Defaults to None:
            pycocotools' ``np.linspace(.5, .95, 10)``. ``AP50`` / ``AP75`` are ``-1`` unless
            0.5 / 0.75 is one of them (exact match, as in pycocotools).
        max_dets (Sequence[int]): three increasing maxDets values. Defaults to (1, 10, 100).

    Returns:
        CocoEvalResult: the 12 stats, precision / recall arrays and per-category AP.
    """
    max_dets = [int(m) for m in max_dets]
    if len(max_dets) != 3 or sorted(set(max_dets)) != max_dets or max_dets[0] < 1:
        raise ValueError(f'max_dets must be three increasing positive ints, got {max_dets}')
    if iou_thrs is None:
        iou_thrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
    iou_thrs = np.asarray(iou_thrs, dtype=np.float64).reshape(-1)
    if iou_thrs.size == 0 or iou_thrs.min() < 0 or iou_thrs.max() > 1:
        raise ValueError(f'iou_thrs must be a non-empty list of values in [0, 1], got {iou_thrs}')
    rec_thrs = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
    area_rngs = np.array([[lo, hi] for _, lo, hi in COCO_AREA_RANGES])
    flat = _flatten(gt_bboxes, gt_labels, gt_ignore_flags, det_bboxes, det_scores, det_labels,
                    num_classes)

    thrs = np.minimum(iou_thrs, 1 - 1e-10)
    score, label, img, rank, matched, ignored = _match_all(flat, num_classes, max_dets[-1],
                                                           thrs, area_rngs)

    gt_area = flat.gt_xywh[:, 2] * flat.gt_xywh[:, 3]
    in_rng = (gt_area[:, None] >= area_rngs[:, 0]) & (gt_area[:, None] <= area_rngs[:, 1])
    npig = np.zeros((num_classes, len(area_rngs)), dtype=np.int64)
    np.add.at(npig, flat.gt_label, (in_rng & ~flat.gt_ignore[:, None]).astype(np.int64))

    num_thr, num_rec, num_area = len(iou_thrs), len(rec_thrs), len(area_rngs)
    precision = -np.ones((num_thr, num_rec, num_classes, num_area, len(max_dets)))
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

    stats = _summarize(precision, recall, iou_thrs, max_dets)
    classwise = precision[:, :, :, 0, -1].transpose(2, 0, 1).reshape(num_classes, -1)
    classwise_ap = np.array([row[row > -1].mean() if (row > -1).any() else -1.0
                             for row in classwise])
    num_dets = np.bincount(label, minlength=num_classes)
    return CocoEvalResult(stats, precision, recall, classwise_ap, iou_thrs, npig[:, 0], num_dets)


def _voc_ap(recall: np.ndarray, precision: np.ndarray, mode: str) -> float:
    """AP from one category's recall / precision curve (mmdet ``average_precision``)."""
    if mode == 'area':
        mrec = np.concatenate([[0.0], recall, [1.0]])
        mpre = np.concatenate([[0.0], precision, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        idx = np.flatnonzero(mrec[1:] != mrec[:-1])
        return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))
    ap = 0.0
    for thr in np.arange(11) / 10:  # exactly 0.3 etc., not np.arange(0, 1.1, .1)'s 0.3000...04
        prec = precision[recall >= thr]
        ap += prec.max() if prec.size else 0.0
    return float(ap / 11)


def voc_map(gt_bboxes: ArrayList,
            gt_labels: ArrayList,
            det_bboxes: ArrayList,
            det_scores: ArrayList,
            det_labels: ArrayList,
            num_classes: int,
            gt_ignore_flags: Optional[ArrayList] = None,
            iou_thr: float = 0.5,
            mode: str = 'area') -> VocMapResult:
    """VOC-style mean AP at one IoU threshold (the semantics of mmdet's ``eval_map``).

    Per image and category, detections are taken by score (highest first, ties in input
    order); each is assigned to the GT of highest IoU (plain IoU, no ``+1``; first GT on
    ties), already-matched GTs included. With IoU >= ``iou_thr``: an ignored GT ("difficult")
    makes the detection neither TP nor FP; otherwise the first detection on a GT is a TP and
    later ones are FPs. Below ``iou_thr`` it is a FP. All detections count (no maxDets cut).
    Per category the detections of all images are ranked by score (ties: image order, then
    the order above); recall = TP / #non-ignored GT, precision = TP / (TP + FP).

    Args:
        gt_bboxes, gt_labels, det_bboxes, det_scores, det_labels, num_classes,
            gt_ignore_flags: as in :func:`coco_bbox_eval`.
        iou_thr (float): IoU threshold. Defaults to 0.5.
        mode (str): ``'area'`` (area under the monotone precision envelope, VOC2010+) or
            ``'11points'`` (mean of the best precision at recall >= 0, 0.1, ..., 1;
            VOC2007; the thresholds are ``i / 10``, so a recall of exactly 0.3 reaches 0.3,
            unlike with mmdet's ``np.arange(0, 1.1, 0.1)``). Defaults to ``'area'``.

    Returns:
        VocMapResult: mean AP over categories with GT, per-category AP and GT counts.
    """
    if mode not in ('area', '11points'):
        raise ValueError(f"mode must be 'area' or '11points', got {mode!r}")
    flat = _flatten(gt_bboxes, gt_labels, gt_ignore_flags, det_bboxes, det_scores, det_labels,
                    num_classes)
    det_key = flat.det_img * num_classes + flat.det_label
    order = np.lexsort((np.arange(len(det_key)), -flat.det_score, det_key))
    det_key, score, label = det_key[order], flat.det_score[order], flat.det_label[order]
    img = flat.det_img[order]
    gt_key = flat.gt_img * num_classes + flat.gt_label
    gt_order = np.argsort(gt_key, kind='stable')
    gt_ignore = flat.gt_ignore[gt_order]
    pairs = _pair_ious(det_key, flat.det_xywh[order], gt_key[gt_order],
                       flat.gt_xywh[gt_order], np.zeros(len(gt_order), dtype=bool))

    tp = np.zeros(len(det_key), dtype=bool)
    skip = np.zeros(len(det_key), dtype=bool)
    has_gt = np.flatnonzero(pairs.gt_count > 0)
    if len(has_gt):
        starts = pairs.offset[has_gt]
        best = np.maximum.reduceat(pairs.iou, starts)
        pos = np.where(pairs.iou == np.repeat(best, pairs.gt_count[has_gt]),
                       np.arange(len(pairs.iou)), len(pairs.iou))
        first_best = np.minimum.reduceat(pos, starts)  # first GT among the ties
        hit = best >= iou_thr
        gt_idx = pairs.gt_start[has_gt] + first_best - starts
        skip[has_gt[hit]] = gt_ignore[gt_idx[hit]]
        reg = hit & ~gt_ignore[gt_idx]
        # The first detection (in score order) on each regular GT is its TP.
        _, first = np.unique(gt_idx[reg], return_index=True)
        tp[has_gt[reg][first]] = True
    fp = ~tp & ~skip

    num_gts = np.bincount(flat.gt_label[~flat.gt_ignore], minlength=num_classes)
    ap = -np.ones(num_classes)
    cat_order = np.lexsort((np.arange(len(score)), img, -score, label))
    bounds = np.searchsorted(label[cat_order], np.arange(num_classes + 1))
    eps = np.finfo(np.float32).eps
    for k in np.flatnonzero(num_gts > 0):
        seg = cat_order[bounds[k]:bounds[k + 1]]
        tp_cum = np.cumsum(tp[seg]).astype(np.float64)
        fp_cum = np.cumsum(fp[seg]).astype(np.float64)
        recall = tp_cum / max(num_gts[k], eps)
        precision = tp_cum / np.maximum(tp_cum + fp_cum, eps)
        ap[k] = _voc_ap(recall, precision, mode)
    valid = ap[num_gts > 0]
    return VocMapResult(float(valid.mean()) if valid.size else -1.0, ap, num_gts)
