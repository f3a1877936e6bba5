"""DetVisualizationHook through a real mmengine test loop: exact colours at known boxes."""
import os.path as osp
import uuid

import cv2
import numpy as np
import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.structures import InstanceData
from torch.utils.data import Dataset

from cissreg.structures import DetDataSample
from cissreg.visualization import match_predictions

PURPLE, GREEN, YELLOW = (128, 0, 128), (0, 255, 0), (255, 255, 0)  # RGB
BACKGROUND = (90, 90, 90)
H, W = 120, 240
CLASSES = ('circle', 'square')

# Image 0: ground truth and predictions, each box's left edge at its own x, mid-height y=70.
GT0 = [dict(bbox=[10., 40., 70., 100.], bbox_label=0, ignore_flag=0),
       dict(bbox=[100., 40., 150., 100.], bbox_label=1, ignore_flag=0),
       dict(bbox=[170., 40., 210., 100.], bbox_label=1, ignore_flag=0),
       dict(bbox=[60., 5., 90., 30.], bbox_label=0, ignore_flag=1)]
PRED0 = [
    ([22., 40., 70., 100.], 0.9, 0),  # IoU 0.8 with GT 0, highest score: matched (green)
    ([16., 40., 70., 100.], 0.6, 0),  # IoU 0.9 with GT 0, but GT 0 already taken (yellow)
    ([106., 40., 150., 100.], 0.8, 0),  # on GT 1 but wrong class (yellow)
    ([112., 40., 150., 100.], 0.1, 1),  # below score_thr: not drawn
    ([190., 40., 220., 100.], 0.5, 1),  # IoU 0.4 with GT 2 < iou_thr (yellow)
]
EXPECTED_EDGE_COLOURS = {10: PURPLE, 22: GREEN, 16: YELLOW, 100: PURPLE, 106: YELLOW,
                         112: BACKGROUND, 170: PURPLE, 190: YELLOW}
# Image 1: one ground-truth box, no prediction.
GT1 = [dict(bbox=[30., 30., 90., 90.], bbox_label=1, ignore_flag=0)]


class PaintedSet(Dataset):
    """Two PNG images on disk with canned predictions in their data samples."""

    metainfo = dict(classes=CLASSES)

    def __init__(self, img_dir: str) -> None:
        self.items = []
        for name, gts, preds in (('img_a.png', GT0, PRED0), ('img_b.png', GT1, [])):
            path = osp.join(img_dir, name)
            cv2.imwrite(path, np.full((H, W, 3), BACKGROUND, dtype=np.uint8))
            self.items.append((path, gts, preds))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> dict:
        path, gts, preds = self.items[idx]
        sample = DetDataSample(metainfo=dict(img_path=path, img_id=idx, ori_shape=(H, W),
                                             instances=gts))
        sample.pred_instances = InstanceData(
            bboxes=torch.tensor([p[0] for p in preds], dtype=torch.float32).reshape(-1, 4),
            scores=torch.tensor([p[1] for p in preds], dtype=torch.float32),
            labels=torch.tensor([p[2] for p in preds], dtype=torch.int64))
        return dict(inputs=torch.zeros(3, 8, 8, dtype=torch.uint8), data_samples=sample)


class CannedDetector(BaseModel):
    """Returns the data samples (with their canned predictions) in predict mode."""

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return data_samples


class CountMetric(BaseMetric):

    def process(self, data_batch, data_samples) -> None:
        self.results.extend(data_samples)

    def compute_metrics(self, results) -> dict:
        return dict(count=len(results))


def _count(image_rgb: np.ndarray, colour) -> int:
    return int(np.all(image_rgb == np.array(colour, dtype=np.uint8), axis=-1).sum())


def _test_runner(tmp_path, visualization: dict, visualizer=None) -> Runner:
    """A test loop over :class:`PaintedSet` (images written under ``tmp_path/images``)."""
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    return Runner(
        model=CannedDetector(),
        work_dir=str(tmp_path / 'work'),
        experiment_name=f'vis_{uuid.uuid4().hex}',
        test_dataloader=dict(
            dataset=PaintedSet(str(img_dir)),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            collate_fn=dict(type='pseudo_collate')),
        test_evaluator=dict(type='Evaluator', metrics=CountMetric()),
        test_cfg=dict(),
        default_hooks=dict(visualization=dict(type='DetVisualizationHook', **visualization)),
        visualizer=visualizer,
        default_scope='cissreg')


@pytest.mark.parametrize('visualizer,absolute_dir',
                         [(None, False), (dict(type='DetLocalVisualizer'), True)])
def test_painted_colours_through_test_loop(tmp_path, visualizer, absolute_dir):
    show_dir = str(tmp_path / 'painted') if absolute_dir else 'painted'
    runner = _test_runner(
        tmp_path, dict(draw=True, show_dir=show_dir, score_thr=0.3, iou_thr=0.5), visualizer)
    runner.test()

    out_dir = show_dir if absolute_dir else osp.join(runner.work_dir, runner.timestamp, show_dir)
    painted_a = cv2.imread(osp.join(out_dir, 'img_a.png'))[..., ::-1]
    painted_b = cv2.imread(osp.join(out_dir, 'img_b.png'))[..., ::-1]
    assert painted_a.shape == painted_b.shape == (H, W, 3)

    for colour in (PURPLE, GREEN, YELLOW):
        assert _count(painted_a, colour) > 50, colour
    for x, colour in EXPECTED_EDGE_COLOURS.items():
        assert tuple(int(c) for c in painted_a[70, x]) == colour, (x, colour)
    # The ignored ground-truth box (ignore_flag=1) is not painted.
    assert tuple(int(c) for c in painted_a[10, 60]) == BACKGROUND

    assert _count(painted_b, PURPLE) > 50
    assert _count(painted_b, GREEN) == _count(painted_b, YELLOW) == 0
    assert tuple(int(c) for c in painted_b[60, 30]) == PURPLE


def test_draw_false_writes_nothing(tmp_path):
    _test_runner(tmp_path, dict(show_dir=str(tmp_path / 'out'))).test()
    assert not osp.exists(tmp_path / 'out')


def test_match_predictions_greedy_by_score_each_gt_once():
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], dtype=np.float64)
    gt_labels = np.array([0, 0])
    preds = np.array([[0, 0, 10, 10], [0, 0, 10, 9], [21, 0, 30, 10], [40, 0, 50, 10]],
                     dtype=np.float64)
    scores = np.array([0.5, 0.9, 0.7, 0.95])
    labels = np.array([0, 0, 0, 0])
    # The 0.9 prediction (IoU 0.9) takes GT 0 before the exact 0.5 one; the far box matches
    # nothing.
    assert match_predictions(preds, scores, labels, gt, gt_labels, 0.5).tolist() == \
        [False, True, True, False]
    # At IoU 0.95 only the exact box can match GT 0, though its score is lower.
    assert match_predictions(preds, scores, labels, gt, gt_labels, 0.95).tolist() == \
        [True, False, False, False]
    assert match_predictions(preds, scores, np.ones(4, dtype=int), gt, gt_labels,
                             0.5).tolist() == [False] * 4


def test_visualizer_without_out_file_writes_to_vis_backend(tmp_path):
    from cissreg.visualization import DetLocalVisualizer

    visualizer = DetLocalVisualizer(
        name=f'vis_{uuid.uuid4().hex}', vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path))
    visualizer.dataset_meta = dict(classes=CLASSES)
    sample = DetDataSample(metainfo=dict(instances=GT1))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[30., 30., 90., 90.]]), scores=torch.tensor([0.9]),
        labels=torch.tensor([1]))
    image = np.full((H, W, 3), BACKGROUND, dtype=np.uint8)
    drawn = visualizer.add_datasample('sample', image, sample, draw_gt=False, step=3)
    # Ground truth not painted, but the prediction is still matched against it (green).
    assert _count(drawn, PURPLE) == 0 and _count(drawn, GREEN) > 50
    written = cv2.imread(str(tmp_path / 'vis_data' / 'vis_image' / 'sample_3.png'))
    assert written is not None and np.array_equal(written[..., ::-1], drawn)
