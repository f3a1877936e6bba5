"""CILMetric / cil_summary: grouped accuracy, Last, Avg and PyCIL forgetting by hand."""
import pytest
import torch

from cissreg.evaluation.metrics import CILMetric, cil_summary, grouped_accuracy
from cissreg.utils.task_split import incremental_task_sizes, task_class_ranges


def test_summary_of_a_known_accuracy_matrix():
    task_acc = [[90.0], [80.0, 70.0], [60.0, 65.0, 75.0]]
    all_acc = [90.0, 76.0, 66.0]
    out = cil_summary(task_acc, all_acc)
    assert out['Avg'] == pytest.approx((90 + 76 + 66) / 3)
    assert out['Last'] == 66.0  # all-class accuracy after the last task, not a task mean
    assert 'AA' not in out and 'AIA' not in out
    # j=0: max(90, 80) - 60 = 30; j=1: max(70) - 65 = 5
    assert out['forgetting'] == pytest.approx((30 + 5) / 2)
    assert cil_summary([[50.0]], [50.0])['forgetting'] is None
    # PyCIL: max over all tasks up to the last one, so a task that improved counts 0 and
    # forgetting is never negative: j=0: max(40, 50, 45) - 45 = 5; j=1: max(60, 70) - 70 = 0
    assert cil_summary([[40.0], [50.0, 60.0], [45.0, 70.0, 10.0]],
                       [40.0, 55.0, 38.0])['forgetting'] == pytest.approx((5 + 0) / 2)


def test_task_split_follows_init_class_and_increment():
    assert incremental_task_sizes(100, 50, 10) == [50, 10, 10, 10, 10, 10]  # B50-Inc10
    assert incremental_task_sizes(25, 10, 10) == [10, 10, 5]
    keys = list(grouped_accuracy(torch.zeros(1).numpy(), torch.zeros(1).numpy(),
                                 task_class_ranges(120, 10, 10), 11))
    assert keys[:3] == ['all', '0-9', '10-19'] and keys[9:13] == ['80-89', '90-99', '100-109',
                                                                  '110-119']
    assert keys[-2:] == ['old', 'new']


def _samples(rows):
    """rows: (label, prediction, number of scored classes)."""
    out = []
    for label, pred, n in rows:
        score = torch.zeros(n)
        score[pred] = 1.0
        out.append(dict(pred_score=score, gt_label=torch.tensor([label])))
    return out


def test_metric_groups_and_history():
    metric = CILMetric(num_classes=7, init_class=3, increment=2)  # tasks 0-2, 3-4, 5-6
    # task 0: classes 0..2, 3 of 4 right -> 75 %
    metric.process(None, _samples([(0, 0, 3), (1, 1, 3), (2, 2, 3), (2, 0, 3)]))
    m0 = metric.compute_metrics(metric.results)
    metric.results.clear()
    assert m0['task'] == 0 and m0['acc_all'] == 75.0 and m0['acc_0-2'] == 75.0
    assert 'acc_old' not in m0 and m0['acc_new'] == 75.0 and m0['Avg'] == 75.0
    assert 'forgetting' not in m0
    # task 1: old (0..2) 1/2 right, new (3, 4) 2/2 right; a class-5 sample is left out
    metric.process(None, _samples([(0, 0, 5), (1, 4, 5), (3, 3, 5), (4, 4, 5), (5, 0, 5)]))
    m1 = metric.compute_metrics(metric.results)
    metric.results.clear()
    assert (m1['acc_all'], m1['acc_0-2'], m1['acc_3-4']) == (75.0, 50.0, 100.0)
    assert (m1['acc_old'], m1['acc_new']) == (50.0, 100.0)
    assert m1['Avg'] == pytest.approx(75.0) and m1['Last'] == pytest.approx(75.0)
    assert m1['forgetting'] == pytest.approx(75.0 - 50.0)
    assert metric.history[1]['task_acc'] == [50.0, 100.0]
    state = metric.state_dict()
    restored = CILMetric(num_classes=7, init_class=3, increment=2)
    restored.load_state_dict(state)
    assert restored.summary(1) == metric.summary(1)


def test_single_task_checkpoint_gives_grouped_accuracy_only():
    metric = CILMetric(num_classes=7, init_class=3, increment=2)
    metric.process(None, _samples([(3, 3, 5), (0, 1, 5)]))
    out = metric.compute_metrics(metric.results)
    assert out['acc_3-4'] == 100.0 and out['acc_0-2'] == 0.0 and 'Avg' not in out


def test_scores_must_end_at_a_task_boundary():
    metric = CILMetric(num_classes=7, init_class=3, increment=2)
    metric.process(None, _samples([(0, 0, 4)]))
    with pytest.raises(ValueError, match='no task boundary'):
        metric.compute_metrics(metric.results)


def test_last_differs_from_the_mean_of_task_accuracies_when_tasks_differ_in_size():
    """B3-Inc1-like: task 0 has 3 classes, task 1 one; Last weighs every sample equally."""
    metric = CILMetric(num_classes=4, init_class=3, increment=1)
    metric.process(None, _samples([(0, 0, 3), (1, 1, 3), (2, 2, 3)]))
    metric.compute_metrics(metric.results)
    metric.results.clear()
    # after task 1: old 0/3 right, new 1/1 right
    metric.process(None, _samples([(0, 3, 4), (1, 3, 4), (2, 3, 4), (3, 3, 4)]))
    out = metric.compute_metrics(metric.results)
    assert out['Last'] == 25.0  # 1 of 4 samples
    assert (out['acc_0-2'] + out['acc_3-3']) / 2 == 50.0  # the old "AA" would say 50
    record = metric.incremental_record()
    assert record['Last'] == 25.0 and record['acc_matrix'] == [[100.0], [0.0, 100.0]]


def test_groups_come_from_the_task_sizes_handed_in_dataset_meta():
    """Without its own split the metric groups by ``dataset_meta['task_sizes']`` (as the loop
    and CissRunner hand it), the same as with the split stated in its arguments."""
    stated = CILMetric(num_classes=4, init_class=3, increment=1)
    handed = CILMetric()
    handed.dataset_meta = dict(classes=('a', 'b', 'c', 'd'), task_sizes=[3, 1])
    assert handed.ranges == stated.ranges == [(0, 3), (3, 4)]
    for metric in (stated, handed):
        metric.process(None, _samples([(0, 3, 4), (1, 3, 4), (2, 3, 4), (3, 3, 4)]))
    assert handed.compute_metrics(handed.results) == stated.compute_metrics(stated.results)


def test_without_a_split_the_metric_says_where_it_comes_from():
    metric = CILMetric()
    metric.dataset_meta = dict(classes=('a', 'b'))
    with pytest.raises(ValueError,
                       match=r"no task split. It comes in dataset_meta\['task_sizes'\]"):
        metric.ranges
    with pytest.raises(ValueError, match='give num_classes, init_class and increment together'):
        CILMetric(num_classes=4, init_class=2)
