"""TaskAlignedAssigner: parity with ultralytics and a float64 per-anchor reference."""
import math
from typing import List, Sequence, Tuple

import pytest
import torch

from cissreg.models.task_modules.assigners import TaskAlignedAssigner
from cissreg.registry import TASK_UTILS
from cissreg.testing.reference import require


def grid_anchors(img: int, strides: Sequence[int]) -> torch.Tensor:
    """[A, 2] cell centres in pixels, level-major then row-major (ultralytics order)."""
    points = []
    for s in strides:
        n = img // s
        c = (torch.arange(n, dtype=torch.float) + 0.5) * s
        yy, xx = torch.meshgrid(c, c, indexing='ij')
        points.append(torch.stack((xx, yy), -1).view(-1, 2))
    return torch.cat(points)


def make_inputs(counts: List[int], num_classes: int, img: int, strides=(8, 16, 32),
                seed: int = 0, dtype=torch.float) -> Tuple[torch.Tensor, ...]:
    """Random predictions near the anchors and padded random GTs (zeros after counts[b])."""
    gen = torch.Generator().manual_seed(seed)
    anchors = grid_anchors(img, strides)
    bs, num_anchors, max_boxes = len(counts), anchors.shape[0], max(counts, default=0)
    scores = torch.rand(bs, num_anchors, num_classes, generator=gen)
    centre = anchors + torch.randn(bs, num_anchors, 2, generator=gen) * 6
    wh = torch.rand(bs, num_anchors, 2, generator=gen) * img * 0.3 + 4
    pd_bboxes = torch.cat([centre - wh / 2, centre + wh / 2], -1)
    xy = torch.rand(bs, max_boxes, 2, generator=gen) * img
    gwh = torch.rand(bs, max_boxes, 2, generator=gen) * img * 0.4 + 2
    gt_bboxes = torch.cat([xy - gwh / 2, xy + gwh / 2], -1).clamp(0, img)
    gt_labels = torch.randint(0, num_classes, (bs, max_boxes, 1), generator=gen).float()
    mask = (torch.arange(max_boxes)[None] < torch.tensor(counts)[:, None])[..., None]
    return tuple(t.to(dtype) for t in (scores, pd_bboxes, anchors, gt_labels * mask,
                                       gt_bboxes * mask, mask.float()))


def assert_same_assignment(ours, theirs, num_classes: int) -> None:
    labels, bboxes, scores, fg, gt_idx = theirs
    fg = fg.bool()
    assert torch.equal(ours.fg_mask, fg)
    assert torch.equal(ours.assigned_gt_idxs, gt_idx)
    torch.testing.assert_close(ours.assigned_scores, scores.to(ours.assigned_scores.dtype),
                               rtol=1e-6, atol=1e-7)
    assert torch.equal(ours.assigned_labels[fg], labels[fg])
    assert torch.equal(ours.assigned_bboxes[fg], bboxes[fg])
    assert (ours.assigned_labels[~fg] == num_classes).all()
    assert (ours.assigned_bboxes[~fg] == 0).all()


@pytest.mark.parametrize('counts,num_classes,img,seed', [
    ([35, 0, 3, 12], 3, 256, 0),      # A = 1344: torch.topk's partial-sort path
    ([31, 5, 0], 1, 96, 1),           # A = 189: its nth_element path
    ([40, 33], 80, 128, 2),           # many classes, 30+ GTs per image
    ([6, 2, 1, 4], 7, 64, 3),
])
def test_matches_ultralytics(counts, num_classes, img, seed):
    ul_tal = require('ultralytics.utils.tal')
    args = make_inputs(counts, num_classes, img, seed=seed)
    theirs = ul_tal.TaskAlignedAssigner(topk=10, num_classes=num_classes, alpha=0.5, beta=6.0)(
        *[a.clone() for a in args])
    ours = TaskAlignedAssigner(num_classes=num_classes)(*args)
    assert ours.fg_mask.sum() > 0
    assert_same_assignment(ours, theirs, num_classes)


def test_matches_ultralytics_with_padding_between_real_gts():
    ul_tal = require('ultralytics.utils.tal')
    scores, pd_bboxes, anchors, labels, bboxes, mask = make_inputs([20, 4, 0], 5, 128, seed=4)
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(0))  # holes anywhere
    labels, bboxes, mask = labels[:, perm], bboxes[:, perm], mask[:, perm]
    assert not mask[1, :4].all()
    args = (scores, pd_bboxes, anchors, labels, bboxes, mask)
    theirs = ul_tal.TaskAlignedAssigner(topk=10, num_classes=5, alpha=0.5, beta=6.0)(
        *[a.clone() for a in args])
    ours = TaskAlignedAssigner(num_classes=5)(*args)
    assert ours.fg_mask[1].any()
    assert_same_assignment(ours, theirs, 5)


def test_matches_ultralytics_with_tied_metrics():
    """Equal scores and equal box sizes: many exactly equal metrics, incl. zeros in GTs."""
    ul_tal = require('ultralytics.utils.tal')
    anchors = grid_anchors(128, (8, 16, 32))
    num_anchors = anchors.shape[0]
    scores = torch.full((2, num_anchors, 2), 0.5)
    pd_bboxes = torch.cat([anchors - 12, anchors + 12], -1).expand(2, -1, -1).contiguous()
    gt_bboxes = torch.tensor([[[0., 0., 40., 40.], [16., 16., 80., 48.], [60., 60., 128., 128.]],
                              [[32., 32., 96., 96.], [32., 32., 96., 96.], [0., 0., 0., 0.]]])
    gt_labels = torch.tensor([[[0.], [1.], [1.]], [[1.], [0.], [0.]]])
    mask = torch.tensor([[[1.], [1.], [1.]], [[1.], [1.], [0.]]])
    args = (scores, pd_bboxes, anchors, gt_labels, gt_bboxes, mask)
    theirs = ul_tal.TaskAlignedAssigner(topk=10, num_classes=2, alpha=0.5, beta=6.0)(
        *[a.clone() for a in args])
    ours = TaskAlignedAssigner(num_classes=2)(*args)
    assert_same_assignment(ours, theirs, 2)


def test_zero_overlap_multi_claims_follow_ultralytics():
    """Predictions far from every GT: all metrics are 0, top-k picks tied zeros (the first
    anchors, for A >= 640); an anchor claimed by two GTs with all overlaps 0 goes to GT 0
    (argmax of zeros) even outside GT 0, as in ultralytics."""
    ul_tal = require('ultralytics.utils.tal')
    img = 256
    anchors = grid_anchors(img, (8, 16, 32))
    num_anchors = anchors.shape[0]
    scores = torch.full((1, num_anchors, 2), 0.5)
    pd_bboxes = torch.cat([anchors + 1000, anchors + 1001], -1)[None]
    gt_bboxes = torch.tensor([[[img - 40., img - 40., img - 1., img - 1.], [0., 0., 30., 20.],
                               [0., 0., 20., 30.]]])
    gt_labels = torch.tensor([[[0.], [1.], [1.]]])
    args = (scores, pd_bboxes, anchors, gt_labels, gt_bboxes, torch.ones(1, 3, 1))
    theirs = ul_tal.TaskAlignedAssigner(topk=10, num_classes=2, alpha=0.5, beta=6.0)(*args)
    ours = TaskAlignedAssigner(num_classes=2)(*args)
    assert_same_assignment(ours, theirs, 2)
    to_gt0 = ours.fg_mask[0] & (ours.assigned_gt_idxs[0] == 0)
    assert (anchors[to_gt0] < img - 40).all(-1).any()  # an anchor outside GT 0
    assert (ours.assigned_scores == 0).all()


def test_no_gt_and_all_padding():
    args = make_inputs([0, 0], 4, 64)
    assert args[4].shape[1] == 0
    for res in (TaskAlignedAssigner(num_classes=4)(*args),
                TaskAlignedAssigner(num_classes=4)(*make_inputs([3, 1], 4, 64)[:5],
                                                   torch.zeros(2, 3, 1))):
        num_anchors = args[2].shape[0]
        assert res.fg_mask.shape == (2, num_anchors) and not res.fg_mask.any()
        assert res.assigned_scores.shape == (2, num_anchors, 4)
        assert (res.assigned_scores == 0).all() and (res.assigned_labels == 4).all()
        assert (res.assigned_bboxes == 0).all() and (res.assigned_gt_idxs == 0).all()


def naive_ciou(g: Sequence[float], p: Sequence[float]) -> float:
    """CIoU (Zheng et al. 2020) of two xyxy boxes, straight from the definition."""
    iw = max(0.0, min(g[2], p[2]) - max(g[0], p[0]))
    ih = max(0.0, min(g[3], p[3]) - max(g[1], p[1]))
    wg, hg, wp, hp = g[2] - g[0], g[3] - g[1], p[2] - p[0], p[3] - p[1]
    inter = iw * ih
    iou = inter / (wg * hg + wp * hp - inter)
    rho2 = ((g[0] + g[2] - p[0] - p[2])**2 + (g[1] + g[3] - p[1] - p[3])**2) / 4
    c2 = (max(g[2], p[2]) - min(g[0], p[0]))**2 + (max(g[3], p[3]) - min(g[1], p[1]))**2
    v = 4 / math.pi**2 * (math.atan(wg / hg) - math.atan(wp / hp))**2
    return iou - rho2 / c2 - v * v / (1 - iou + v)


def naive_assign(scores, pd_bboxes, anchors, gt_labels, gt_bboxes, mask, topk, alpha, beta,
                 eps=1e-9):
    """Per-image, per-GT, per-anchor loops in float64; returns (scores, fg, gt_idx, n_multi)."""
    bs, num_anchors, num_classes = scores.shape
    max_boxes = gt_bboxes.shape[1]
    out = torch.zeros(bs, num_anchors, num_classes, dtype=torch.float64)
    fg = torch.zeros(bs, num_anchors, dtype=torch.bool)
    gt_idx = torch.zeros(bs, num_anchors, dtype=torch.long)
    n_multi = 0
    for b in range(bs):
        metric = [[0.0] * num_anchors for _ in range(max_boxes)]
        overlap = [[0.0] * num_anchors for _ in range(max_boxes)]
        pos = [set() for _ in range(max_boxes)]
        for m in range(max_boxes):
            if not mask[b, m, 0]:
                continue
            g = gt_bboxes[b, m].tolist()
            label = int(gt_labels[b, m, 0])
            inside = []
            for a in range(num_anchors):
                ax, ay = anchors[a].tolist()
                if min(ax - g[0], ay - g[1], g[2] - ax, g[3] - ay) > 1e-9:
                    o = max(naive_ciou(g, pd_bboxes[b, a].tolist()), 0.0)
                    overlap[m][a] = o
                    metric[m][a] = float(scores[b, a, label])**alpha * o**beta
                    inside.append(a)
            ranked = sorted(inside, key=lambda a: -metric[m][a])
            assert len(ranked) > topk and metric[m][ranked[topk - 1]] > 0, 'test data too thin'
            pos[m] = set(ranked[:topk])
        owner = {}
        for a in range(num_anchors):
            claims = [m for m in range(max_boxes) if a in pos[m]]
            if len(claims) == 1:
                owner[a] = claims[0]
            elif claims:
                n_multi += 1
                column = [overlap[m][a] for m in range(max_boxes)]
                owner[a] = column.index(max(column))
        for m in range(max_boxes):
            mine = [a for a, o in owner.items() if o == m]
            if not mine:
                continue
            best_metric = max(metric[m][a] for a in mine)
            best_overlap = max(overlap[m][a] for a in mine)
            for a in mine:
                out[b, a, int(gt_labels[b, m, 0])] = (metric[m][a] * best_overlap
                                                      / (best_metric + eps))
                fg[b, a] = True
                gt_idx[b, a] = m
    return out, fg, gt_idx, n_multi


@pytest.mark.parametrize('dtype,rtol', [(torch.float64, 1e-6), (torch.float32, 2e-4)])
def test_matches_naive_float64_reference(dtype, rtol):
    anchors = grid_anchors(64, (8, 16))  # 80 anchors
    gen = torch.Generator().manual_seed(7)
    scores = torch.rand(2, 80, 3, generator=gen, dtype=torch.float64) * 0.9 + 0.05
    # predicted boxes: 28 px squares around each anchor, jittered
    jitter = torch.rand(2, 80, 4, generator=gen, dtype=torch.float64) * 4 - 2
    pd_bboxes = torch.cat([anchors - 14, anchors + 14], -1).double() + jitter
    gt_bboxes = torch.tensor([[[4., 6., 40., 44.], [6., 8., 42., 46.], [0., 0., 0., 0.]],
                              [[10., 2., 54., 30.], [8., 20., 36., 62.], [30., 28., 62., 60.]]],
                             dtype=torch.float64)
    gt_labels = torch.tensor([[[2.], [0.], [0.]], [[1.], [1.], [0.]]], dtype=torch.float64)
    mask = torch.tensor([[[1.], [1.], [0.]], [[1.], [1.], [1.]]], dtype=torch.float64)
    ref_scores, ref_fg, ref_idx, n_multi = naive_assign(scores, pd_bboxes, anchors.double(),
                                                        gt_labels, gt_bboxes, mask,
                                                        topk=4, alpha=0.5, beta=6.0)
    assert n_multi > 0, 'the data must exercise the several-GTs-per-anchor rule'
    assigner = TaskAlignedAssigner(num_classes=3, topk=4, alpha=0.5, beta=6.0)
    inputs = (scores, pd_bboxes, anchors, gt_labels, gt_bboxes, mask)
    res = assigner(*(t.to(dtype) for t in inputs))
    assert torch.equal(res.fg_mask, ref_fg)
    assert torch.equal(res.assigned_gt_idxs, ref_idx)
    torch.testing.assert_close(res.assigned_scores.double(), ref_scores, rtol=rtol, atol=1e-9)
    fg = ref_fg
    assert torch.equal(res.assigned_labels[fg], ref_scores[fg].argmax(-1))
    assert torch.equal(res.assigned_bboxes[fg].double(),
                       gt_bboxes[torch.nonzero(fg)[:, 0], res.assigned_gt_idxs[fg]])


def test_registry_no_grad_and_input_checks():
    assigner = TASK_UTILS.build(dict(type='TaskAlignedAssigner', num_classes=3))
    assert (assigner.topk, assigner.alpha, assigner.beta, assigner.eps) == (10, 0.5, 6.0, 1e-9)
    args = list(make_inputs([3, 2], 3, 64))
    args[0].requires_grad_(True)
    args[1].requires_grad_(True)
    res = assigner(*args)
    assert not res.assigned_scores.requires_grad and res.fg_mask.dtype == torch.bool
    with pytest.raises(ValueError, match='num_classes=3'):
        assigner(torch.rand(2, 84, 5), *args[1:])
    with pytest.raises(ValueError, match='anc_points'):
        assigner(args[0], args[1], args[2][:10], *args[3:])
    with pytest.raises(ValueError, match='topk'):
        TaskAlignedAssigner(num_classes=3, topk=0)
