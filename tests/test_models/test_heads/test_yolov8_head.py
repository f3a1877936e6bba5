"""YOLOv8Head: priors, decoding, losses (parity with ultralytics v8DetectionLoss), prediction."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from cissreg.models.heads import YOLOv8Head
from cissreg.registry import MODELS
from cissreg.structures.det_data_sample import DetDataSample
from cissreg.testing.reference import require

STRIDES = (8, 16, 32)


def make_head(num_classes: int, **kwargs) -> YOLOv8Head:
    return MODELS.build(dict(
        type='YOLOv8Head',
        head_module=dict(type='YOLOv8HeadModule', num_classes=num_classes,
                         in_channels=[256, 512, 1024], widen_factor=0.25), **kwargs))


def raw_outputs(num_imgs: int, num_classes: int, img: int, seed: int = 0):
    """Per-level ultralytics-layout outputs [B, 64 + C, H, W] (box bins first)."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(num_imgs, 64 + num_classes, img // s, img // s, generator=gen)
            for s in STRIDES]


def split(feats):
    return [f[:, 64:] for f in feats], [f[:, :64] for f in feats]


def test_defaults_from_config():
    head = make_head(5)
    assert (head.num_classes, head.reg_max, head.featmap_strides) == (5, 16, STRIDES)
    assert head.loss_cls.loss_weight == 0.5 and head.loss_bbox.loss_weight == 7.5
    assert head.loss_dfl.loss_weight == 1.5 and head.loss_bbox.iou_mode == 'ciou'
    assigner = head.assigner
    assert (assigner.num_classes, assigner.topk, assigner.alpha,
            assigner.beta) == (5, 10, 0.5, 6.0)
    assert head.test_cfg == dict(multi_label=True, nms_pre=30000, score_thr=0.001,
                                 nms=dict(type='nms', iou_threshold=0.7), max_per_img=300)
    assert not any('proj' in k or 'prior' in k for k in head.state_dict())
    with pytest.raises(ValueError, match='num_classes'):
        YOLOv8Head(head_module=dict(type='YOLOv8HeadModule'))


def test_priors_follow_make_anchors_and_are_cached():
    head = make_head(2)
    sizes = [(4, 6), (2, 3), (1, 2)]
    grid, strides, points = head.priors(sizes, torch.float, torch.device('cpu'))
    assert grid.shape == (24 + 6 + 2, 2) and strides.shape == (32, 1)
    # level 0 row-major: x varies fastest; cell centres (i + 0.5)
    torch.testing.assert_close(grid[:7], torch.tensor(
        [[.5, .5], [1.5, .5], [2.5, .5], [3.5, .5], [4.5, .5], [5.5, .5], [.5, 1.5]]))
    assert strides[:24].eq(8).all() and strides[24:30].eq(16).all() and strides[30:].eq(32).all()
    torch.testing.assert_close(points[30:], torch.tensor([[16., 16.], [48., 16.]]))
    assert head.priors(sizes, torch.float, torch.device('cpu'))[0] is grid
    tal = require('ultralytics.utils.tal')
    feats = [torch.zeros(1, 1, h, w) for h, w in sizes]
    ref_points, ref_strides = tal.make_anchors(feats, torch.tensor(STRIDES, dtype=torch.float))
    assert torch.equal(grid, ref_points) and torch.equal(strides, ref_strides)


def test_decode_is_the_dfl_expectation():
    head = make_head(1)
    bins = torch.zeros(1, 1, 4, 16)
    bins[0, 0, torch.arange(4), torch.tensor([2, 0, 15, 7])] = 60.0  # ~one-hot
    box = head.decode_bboxes(bins.view(1, 1, 64), torch.tensor([[3.5, 2.5]]))
    torch.testing.assert_close(box, torch.tensor([[[1.5, 2.5, 18.5, 9.5]]]))
    # a uniform distribution has expectation 7.5 on every side
    box = head.decode_bboxes(torch.zeros(1, 1, 64), torch.tensor([[10., 10.]]))
    torch.testing.assert_close(box, torch.tensor([[[2.5, 2.5, 17.5, 17.5]]]))


def gt_instances(counts, num_classes, img, seed):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for n in counts:
        xy = torch.rand(n, 2, generator=gen) * img * 0.8
        wh = torch.rand(n, 2, generator=gen) * img * 0.4 + 4
        out.append(InstanceData(bboxes=torch.cat([xy, (xy + wh).clamp(max=img)], 1),
                                labels=torch.randint(0, num_classes, (n, ), generator=gen)))
    return out


def test_loss_keys_world_size_scaling_and_input_checks(monkeypatch):
    head = make_head(3)
    cls_scores, dists = split(raw_outputs(2, 3, 64))
    gts = gt_instances([2, 1], 3, 64, 0)
    losses = head.loss_by_feat(cls_scores, dists, gts, [{}, {}])
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_dfl'}
    assert all(v.dim() == 0 and torch.isfinite(v) and v > 0 for v in losses.values())
    # under DDP every term is also multiplied by the world size (ultralytics' trainer does)
    monkeypatch.setattr('cissreg.models.heads.yolov8_head.get_world_size', lambda: 4)
    scaled = head.loss_by_feat(cls_scores, dists, gts, [{}, {}])
    for key in losses:
        torch.testing.assert_close(scaled[key], 4 * losses[key])
    with pytest.raises(ValueError, match='2 images'):
        head.loss_by_feat(cls_scores, dists, gts[:1], [{}])
    gts[1].labels = torch.tensor([3])
    with pytest.raises(ValueError, match=r'GT label 3 outside \[0, 3\)'):
        head.loss_by_feat(cls_scores, dists, gts, [{}, {}])


def test_empty_ground_truth_gives_finite_connected_losses():
    torch.manual_seed(0)
    head = make_head(4)
    feats = [torch.randn(2, c, 64 // s, 64 // s) for c, s in zip((64, 128, 256), STRIDES)]
    samples = []
    for _ in range(2):
        sample = DetDataSample()
        sample.gt_instances = InstanceData(bboxes=torch.zeros(0, 4),
                                           labels=torch.zeros(0, dtype=torch.long))
        samples.append(sample)
    losses = head.loss(feats, samples)
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['loss_bbox'].item() == 0 and losses['loss_dfl'].item() == 0
    assert losses['loss_cls'].item() > 0
    assert all(v.requires_grad for v in losses.values())
    sum(losses.values()).backward()
    cls_grads = [p.grad for p in head.head_module.cls_preds.parameters()]
    assert all(g is not None for g in cls_grads) and sum(g.abs().sum() for g in cls_grads) > 0
    reg_grads = [p.grad for p in head.head_module.reg_preds.parameters() if p.grad is not None]
    assert all(g.abs().sum() == 0 for g in reg_grads)


@pytest.mark.parametrize('num_classes,img', [(3, 256), (80, 128)])
def test_losses_match_ultralytics_v8_detection_loss(num_classes, img):
    require('ultralytics')
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils.loss import v8DetectionLoss
    from ultralytics.utils.ops import xywh2xyxy

    model = DetectionModel('yolov8n.yaml', nc=num_classes, verbose=False)
    model.args = SimpleNamespace(box=7.5, cls=0.5, dfl=1.5)
    criterion = v8DetectionLoss(model)
    counts = [0, 34, 3, 12]  # an image without boxes and one with 30+
    num_imgs = len(counts)
    gen = torch.Generator().manual_seed(num_classes)
    n = sum(counts)
    xywh = torch.cat([torch.rand(n, 2, generator=gen) * 0.8 + 0.1,
                      torch.rand(n, 2, generator=gen) * 0.35 + 0.02], 1)
    labels = torch.randint(0, num_classes, (n, ), generator=gen)
    img_idx = torch.arange(num_imgs).repeat_interleave(torch.tensor(counts))
    batch = dict(batch_idx=img_idx.float(), cls=labels.float(), bboxes=xywh)

    feats = raw_outputs(num_imgs, num_classes, img, seed=num_classes)
    theirs_in = [f.clone().requires_grad_(True) for f in feats]
    total, items = criterion(theirs_in, batch)
    total.backward()

    pixels = xywh2xyxy(xywh * img)
    gts = [InstanceData(bboxes=pixels[img_idx == i], labels=labels[img_idx == i])
           for i in range(num_imgs)]
    ours_in = [f.clone().requires_grad_(True) for f in feats]
    losses = make_head(num_classes).loss_by_feat(*split(ours_in), gts,
                                                 [{}] * num_imgs)
    ours = torch.stack([losses['loss_bbox'], losses['loss_cls'], losses['loss_dfl']])
    assert (items > 0).all()
    torch.testing.assert_close(ours.detach() / num_imgs, items, rtol=1e-4, atol=0)
    sum(losses.values()).backward()
    for a, b in zip(ours_in, theirs_in):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6)


def _single_detection_outputs(num_classes=3):
    """64 px input; anchor (row 1, col 2) of the stride-16 level predicts class 2 with
    distances (l, t, r, b) = (2, 1, 3, 2) cells; everything else scores ~0."""
    cls_scores = [torch.full((1, num_classes, 64 // s, 64 // s), -20.0) for s in STRIDES]
    dists = [torch.zeros(1, 64, 64 // s, 64 // s) for s in STRIDES]
    cls_scores[1][0, 2, 1, 2] = 2.0
    for side, k in enumerate((2, 1, 3, 2)):
        dists[1][0, side * 16 + k, 1, 2] = 60.0
    return cls_scores, dists


def test_predict_maps_boxes_to_the_original_image():
    head = make_head(3)
    cls_scores, dists = _single_detection_outputs()
    # anchor centre (2.5, 1.5) cells * 16 px = (40, 24); box in input pixels:
    x1, y1, x2, y2 = 40 - 2 * 16, 24 - 1 * 16, 40 + 3 * 16, 24 + 2 * 16  # (8, 8, 88, 56)
    top, left, w_scale, h_scale = 4.0, 6.0, 0.5, 0.4
    meta = dict(pad_param=np.array([top, 2.0, left, 1.0], dtype=np.float32),
                scale_factor=(w_scale, h_scale), ori_shape=(140, 150))
    expected = [(x1 - left) / w_scale, (y1 - top) / h_scale,
                min((x2 - left) / w_scale, 150), min((y2 - top) / h_scale, 140)]
    result = head.predict_by_feat(cls_scores, dists, [meta])[0]
    assert len(result) == 1
    torch.testing.assert_close(result.bboxes, torch.tensor([expected]))
    torch.testing.assert_close(result.scores, torch.tensor([1 / (1 + math.exp(-2.0))]))
    assert result.labels.tolist() == [2]
    raw = head.predict_by_feat(cls_scores, dists, [meta], rescale=False)[0]
    torch.testing.assert_close(raw.bboxes, torch.tensor([[x1, y1, x2, y2]], dtype=torch.float))
    single = head.predict_by_feat(cls_scores, dists, [meta],
                                  cfg=dict(head.test_cfg, multi_label=False))[0]
    torch.testing.assert_close(single.bboxes, result.bboxes)


def test_predict_nms_thresholds_and_max_per_img():
    head = make_head(3)
    cls_scores, dists = _single_detection_outputs()
    # the right neighbour predicts the same box shifted by one cell (IoU 2/3) in class 2
    # (score 0.8) and class 0 (0.7)
    cls_scores[1][0, 2, 1, 3] = math.log(0.8 / 0.2)
    cls_scores[1][0, 0, 1, 3] = math.log(0.7 / 0.3)
    for side, k in enumerate((2, 1, 3, 2)):
        dists[1][0, side * 16 + k, 1, 3] = 60.0
    metas = [dict(ori_shape=(64, 64))]
    out = head.predict_by_feat(cls_scores, dists, metas)[0]
    assert out.labels.tolist() == [2, 2, 0]  # IoU 2/3 < 0.7 keeps both class-2 boxes
    torch.testing.assert_close(out.scores, torch.tensor([1 / (1 + math.exp(-2.0)), 0.8, 0.7]))
    cfg = dict(head.test_cfg, nms=dict(type='nms', iou_threshold=0.5))
    assert head.predict_by_feat(cls_scores, dists, metas, cfg=cfg)[0].labels.tolist() == [2, 0]
    cfg = dict(head.test_cfg, score_thr=0.75)
    assert head.predict_by_feat(cls_scores, dists, metas, cfg=cfg)[0].labels.tolist() == [2, 2]
    cfg = dict(head.test_cfg, max_per_img=2)
    assert len(head.predict_by_feat(cls_scores, dists, metas, cfg=cfg)[0]) == 2
    cfg = dict(head.test_cfg, multi_label=False)  # one class per anchor
    assert head.predict_by_feat(cls_scores, dists, metas, cfg=cfg)[0].labels.tolist() == [2, 2]


def test_predict_with_data_samples_and_real_layers():
    torch.manual_seed(0)
    head = make_head(4).eval()
    feats = [torch.randn(2, c, 64 // s, 64 // s) for c, s in zip((64, 128, 256), STRIDES)]
    samples = [DetDataSample(metainfo=dict(ori_shape=(100, 90), scale_factor=(0.64, 0.64),
                                           pad_param=np.zeros(4, dtype=np.float32)))
               for _ in range(2)]
    with torch.no_grad():
        results = head.predict(feats, samples)
    assert len(results) == 2
    for res in results:
        assert len(res) <= 300 and res.bboxes.shape == (len(res), 4)
        assert (res.scores[:-1] >= res.scores[1:]).all() and (res.scores > 0.001).all()
        assert (res.bboxes[:, 0::2] <= 90).all() and (res.bboxes[:, 1::2] <= 100).all()
        assert (res.bboxes >= 0).all() and res.labels.dtype == torch.long
