"""CISSMetric against a hand computation: background in old, nan classes, hIoU, averages."""
import math

import numpy as np
import torch

from cissreg.evaluation.metrics import CISSMetric


def sample(gt, pred, task, base, seen):
    return dict(gt_seg=torch.tensor(gt), pred_sem_seg=torch.tensor(pred), ciss_task=task,
                ciss_num_base=base, ciss_num_seen=seen)


def test_matches_hand_computation_over_two_images_and_steps():
    metric = CISSMetric(num_classes=4)
    # labels: 0 bg, 1-2 base, 3 new, 4 unseen (never in gt or pred: nan, left out)
    img1 = sample([[0, 0, 1, 1], [2, 2, 3, 255]], [[0, 1, 1, 1], [2, 0, 3, 3]], 1, 2, 3)
    img2 = sample([[3, 3], [0, 1]], [[3, 0], [0, 1]], 1, 2, 3)
    metric.process(None, [img1, img2])
    out = metric.compute_metrics(metric.results)
    # pixels (gt, pred), 255 dropped:
    # img1: (0,0) (0,1) (1,1) (1,1) (2,2) (2,0) (3,3)   img2: (3,3) (3,0) (0,0) (1,1)
    # class 0: tp 2, gt 3, pred 4 -> 2 / 5;  class 1: tp 3, gt 3, pred 4 -> 3 / 4
    # class 2: tp 1, gt 2, pred 1 -> 1 / 2;  class 3: tp 2, gt 3, pred 2 -> 2 / 3
    old = (2 / 5 + 3 / 4 + 1 / 2) / 3 * 100
    new = 2 / 3 * 100
    assert math.isclose(out['mIoU_old'], old, rel_tol=1e-12)
    assert math.isclose(out['mIoU_new'], new, rel_tol=1e-12)
    assert math.isclose(out['mIoU_all'], (2 / 5 + 3 / 4 + 1 / 2 + 2 / 3) / 4 * 100)
    assert math.isclose(out['hIoU'], 2 * old * new / (old + new))
    assert metric.history[1]['class_iou'][3] == 2 / 3 * 100

    # step 0 of another evaluation: only old classes, new is nan, averages over steps
    metric.results = []
    metric.process(None, [sample([[0, 1]], [[0, 1]], 0, 2, 2)])
    out0 = metric.compute_metrics(metric.results)
    assert out0['mIoU_old'] == 100.0 and math.isnan(out0['mIoU_new'])
    assert math.isnan(out0['hIoU']) and math.isnan(metric.history[0]['class_iou'][2] or
                                                   float('nan'))
    assert math.isclose(out0['avg_mIoU_all'], (100.0 + out['mIoU_all']) / 2)
    assert math.isclose(out0['avg_hIoU'], out['hIoU'])  # nan steps left out
    state = metric.state_dict()
    fresh = CISSMetric(num_classes=4)
    fresh.load_state_dict(state)
    assert fresh.table() == metric.table() and '| 1 |' in fresh.table()


def test_confusion_matrix_ignores_255():
    from cissreg.evaluation.metrics import confusion_matrix
    cm = confusion_matrix(np.array([0, 255, 1]), np.array([1, 1, 1]), 2)
    assert cm.tolist() == [[0, 1], [0, 1]]
