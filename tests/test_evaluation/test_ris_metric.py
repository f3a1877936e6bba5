"""RISMetric against a hand computation."""
import pytest
import torch

from cissreg.evaluation.metrics import RISMetric


def _mask(h, w, box):
    m = torch.zeros(h, w, dtype=torch.bool)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = True
    return m


def test_ris_metric_matches_hand_computation():
    samples = [
        # pred 4x4 = 16 px, gt 4x2 = 8 px inside it: I = 8, U = 16, IoU 0.5
        dict(pred_mask=_mask(10, 10, (0, 4, 0, 4)), gt_mask=_mask(10, 10, (0, 4, 0, 2))),
        # identical 3x3: I = U = 9, IoU 1
        dict(pred_mask=_mask(10, 10, (5, 8, 5, 8)), gt_mask=_mask(10, 10, (5, 8, 5, 8))),
        # disjoint 2 px vs 10 px: I 0, U 12, IoU 0
        dict(pred_mask=_mask(10, 10, (0, 1, 0, 2)), gt_mask=_mask(10, 10, (5, 7, 0, 5))),
        # 7 of gt 10 predicted, 1 extra: I 7, U 11, IoU 7/11 = 0.636
        dict(pred_mask=_mask(10, 10, (0, 1, 0, 7)) | _mask(10, 10, (9, 10, 9, 10)),
             gt_mask=_mask(10, 10, (0, 1, 0, 10))),
    ]
    metric = RISMetric()
    metric.process({}, samples[:2])
    metric.process({}, samples[2:])
    out = metric.compute_metrics(metric.results)
    ious = [0.5, 1.0, 0.0, 7 / 11]
    assert out['mIoU'] == pytest.approx(sum(ious) / 4)
    assert out['oIoU'] == pytest.approx((8 + 9 + 0 + 7) / (16 + 9 + 12 + 11))
    assert out['Prec@0.5'] == pytest.approx(3 / 4)   # 0.5 counts (>=)
    assert out['Prec@0.6'] == pytest.approx(2 / 4)
    assert out['Prec@0.7'] == out['Prec@0.8'] == out['Prec@0.9'] == pytest.approx(1 / 4)


def test_ris_metric_empty_masks_and_shape_errors():
    metric = RISMetric(thresholds=(0.5, ))
    empty = torch.zeros(4, 4, dtype=torch.bool)
    metric.process({}, [dict(pred_mask=empty, gt_mask=empty)])
    assert metric.compute_metrics(metric.results) == {'mIoU': 1.0, 'oIoU': 1.0, 'Prec@0.5': 1.0}
    with pytest.raises(ValueError, match='differ'):
        metric.process({}, [dict(pred_mask=empty, gt_mask=torch.zeros(3, 4, dtype=torch.bool))])
