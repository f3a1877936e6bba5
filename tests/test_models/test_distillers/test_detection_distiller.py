"""DetectionDistiller: frozen hidden teacher, recorded maps, loss wiring, export, errors."""
import pytest
import torch
from _distill_parts import build, detector_cfg, samples, write_teacher
from mmengine.config import Config

from cissreg.models.distillers import student_state_dict
from cissreg.models.losses import ChannelWiseDivergence, KLResponseLoss
from cissreg.registry import MODELS
from cissreg.utils import CheckpointMismatchError


@pytest.fixture(scope='module')
def teacher(tmp_path_factory):
    return write_teacher(tmp_path_factory.mktemp('teacher'))


def test_teacher_is_loaded_frozen_and_hidden(teacher):
    _, _, trained_state = teacher
    distiller = build(teacher)
    teacher_model = distiller.teacher
    for key, value in trained_state.items():
        assert torch.equal(teacher_model.state_dict()[key], value), key
    assert not any(p.requires_grad for p in teacher_model.parameters())
    assert not teacher_model.training
    distiller.train()
    assert distiller.student.training and not teacher_model.training
    # absent from parameters (optimizer, DDP) and from the state dict (checkpoints)
    teacher_ids = {id(p) for p in teacher_model.parameters()}
    assert not teacher_ids & {id(p) for p in distiller.parameters()}
    assert all(k.startswith(('student.', 'connectors.')) for k in distiller.state_dict())
    # ... but device / dtype moves carry it along
    distiller.double()
    assert next(teacher_model.parameters()).dtype == torch.float64
    assert teacher_model.state_dict()['backbone.stem.bn.running_mean'].dtype == torch.float64


def test_loss_terms_are_wired_to_the_recorded_maps(teacher):
    distiller = build(teacher, gt_loss_weight=1.0)  # default terms: CWD + KL cls + KL box
    distiller.train()
    inputs = torch.rand(2, 3, 64, 64)
    data = samples()
    losses = distiller(inputs, data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_dfl', 'loss_cwd', 'loss_kl_cls',
                           'loss_kl_box'}

    # independent recomputation from the two models' own outputs
    student, teacher_model = distiller.student, distiller.teacher
    s_feats = student.extract_feat(inputs)
    s_cls, s_box = student.bbox_head(s_feats)
    with torch.no_grad():
        t_feats = teacher_model.extract_feat(inputs)
        t_cls, t_box = teacher_model.bbox_head(t_feats)
    det = student.bbox_head.loss_by_feat(s_cls, s_box, [d.gt_instances for d in data],
                                         [d.metainfo for d in data])
    for key in ('loss_cls', 'loss_bbox', 'loss_dfl'):
        torch.testing.assert_close(losses[key], det[key])
    cwd, kl_cls = ChannelWiseDivergence(tau=1.0), KLResponseLoss(tau=1.0)
    kl_box = KLResponseLoss(tau=1.0, reg_max=16)
    # batch means times the images of the batch (2), the detection losses' scale
    expected = dict(
        loss_cwd=2 * 0.05 * sum(cwd(s, t) for s, t in zip(s_feats, t_feats)),
        loss_kl_cls=2 * 0.001 * sum(kl_cls(s[:, :3], t) for s, t in zip(s_cls, t_cls)),
        loss_kl_box=2 * 0.001 * sum(kl_box(s, t) for s, t in zip(s_box, t_box)))
    for key, value in expected.items():
        torch.testing.assert_close(losses[key], value)

    sum(losses.values()).backward()
    assert all(p.grad is None for p in teacher_model.parameters())
    assert all(p.grad is not None for p in student.neck.parameters())

    distiller.gt_loss_weight = 2.0
    doubled = distiller(inputs, data, mode='loss')
    torch.testing.assert_close(doubled['loss_bbox'], 2 * losses['loss_bbox'])
    torch.testing.assert_close(doubled['loss_cwd'], losses['loss_cwd'])


def test_connectors_align_channels_and_levels_select_maps(teacher):
    distiller = build(teacher, widen=0.0625, distill_losses=dict(
        loss_cwd=dict(student='neck', levels=[0, 2], connector=dict(type='ConvConnector'),
                      loss=dict(type='ChannelWiseDivergence', tau=2.0, loss_weight=1.0)),
        loss_kl_cls=dict(student='cls_scores', loss=dict(
            type='KLResponseLoss', class_indexes=[5, 3, 1], mode='sigmoid'))))
    convs = [c.conv for c in distiller.connectors['loss_cwd']]
    # student neck (widen 0.0625) 16/32/64 channels, teacher (0.125) 32/64/128: levels 0 and 2
    assert [(c.in_channels, c.out_channels) for c in convs] == [(16, 32), (64, 128)]
    assert all(k.startswith('connectors.loss_cwd.') for k in distiller.state_dict()
               if not k.startswith('student.'))
    inputs = torch.rand(1, 3, 64, 64)
    distiller.eval()
    losses = distiller(inputs, samples(1), mode='loss')
    s_feats = distiller.student.extract_feat(inputs)
    t_feats = distiller.teacher.extract_feat(inputs)
    cwd = ChannelWiseDivergence(tau=2.0)
    expected = cwd(convs[0](s_feats[0]), t_feats[0]) + cwd(convs[1](s_feats[2]), t_feats[2])
    torch.testing.assert_close(losses['loss_cwd'], expected)
    losses['loss_cwd'].backward()
    assert convs[0].weight.grad is not None


def test_exported_student_loads_into_plain_student_with_same_predictions(teacher):
    distiller = build(teacher, distill_losses=dict(loss_cwd=dict(
        student='neck', connector=dict(type='ConvConnector'),
        loss=dict(type='ChannelWiseDivergence'))))
    distiller.train()
    distiller(torch.rand(2, 3, 64, 64), samples(), mode='loss')  # move the student BN stats
    exported = student_state_dict(distiller.state_dict())
    plain = MODELS.build(detector_cfg(6))
    assert len(distiller.connectors['loss_cwd']) == 3
    assert set(exported) == set(plain.state_dict())  # no connector, no teacher
    plain.load_state_dict(exported, strict=True)
    distiller.eval()
    plain.eval()
    inputs = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(distiller(inputs, mode='tensor'), plain(inputs, mode='tensor')):
            for x, y in zip(a, b):
                assert torch.equal(x, y)
        preds_d = distiller(inputs, samples(), mode='predict')
        preds_p = plain(inputs, samples(), mode='predict')
    for a, b in zip(preds_d, preds_p):
        assert torch.equal(a.pred_instances.bboxes, b.pred_instances.bboxes)
        assert torch.equal(a.pred_instances.scores, b.pred_instances.scores)


def test_distiller_checkpoint_can_serve_as_teacher(teacher, tmp_path):
    first = build(teacher, distill_losses={})
    ckpt = tmp_path / 'distilled.pth'
    torch.save({'state_dict': {f'module.{k}': v for k, v in first.state_dict().items()}}, ckpt)
    config = tmp_path / 'student.py'
    Config(dict(model=detector_cfg(6))).dump(str(config))
    second = MODELS.build(dict(type='DetectionDistiller', student=detector_cfg(6),
                               teacher_config=str(config), teacher_ckpt=str(ckpt)))
    for key, value in second.teacher.state_dict().items():
        assert torch.equal(value, first.student.state_dict()[key])


@pytest.mark.parametrize('kind', ['classes', 'architecture'])
def test_mismatched_teacher_checkpoint_names_keys_and_shapes(tmp_path, kind):
    if kind == 'classes':  # config: 3 classes, checkpoint: 6 classes
        config, ckpt, _ = write_teacher(tmp_path, num_classes=3, ckpt_classes=6)
        expected = (r'bbox_head\.head_module\.cls_preds\.0\.2\.weight: checkpoint \[6, 32, 1, 1\] '
                    r'vs model \[3, 32, 1, 1\]')
    else:  # config: widen 0.125, checkpoint: widen 0.0625
        config, ckpt, _ = write_teacher(tmp_path, widen=0.125, ckpt_widen=0.0625)
        expected = (r'backbone\.stage1\.0\.conv\.weight: checkpoint \[8, 8, 3, 3\] vs model '
                    r'\[16, 8, 3, 3\]')
    with pytest.raises(CheckpointMismatchError, match=expected) as info:
        MODELS.build(dict(type='DetectionDistiller', student=detector_cfg(6, 0.0625),
                          teacher_config=config, teacher_ckpt=ckpt))
    assert ckpt in str(info.value) and config in str(info.value)


def test_missing_keys_and_paths_are_named(teacher, tmp_path):
    config, ckpt, state = teacher
    partial = tmp_path / 'partial.pth'
    torch.save({'state_dict': {k: v for k, v in state.items() if not k.startswith('neck.')}},
               partial)
    with pytest.raises(CheckpointMismatchError, match=r'missing from the checkpoint: neck\.'):
        build((config, str(partial), state))
    with pytest.raises(FileNotFoundError, match='model.teacher_ckpt'):
        build((config, str(tmp_path / 'nope.pth'), state))
    with pytest.raises(FileNotFoundError, match='no last_checkpoint'):
        build((config, str(tmp_path), state))
    (tmp_path / 'last_checkpoint').write_text(ckpt)  # a work dir names its latest checkpoint
    assert build((config, str(tmp_path), state)).teacher is not None
    with pytest.raises(FileNotFoundError, match='model.teacher_config'):
        build((str(tmp_path / 'nope.py'), ckpt, state))


def test_bad_terms_fail_at_build_time(teacher):
    def term(**kw):
        return dict(dict(loss=dict(type='ChannelWiseDivergence'), student='neck'), **kw)

    with pytest.raises(ValueError, match="must contain 'loss'"):
        build(teacher, distill_losses=dict(cwd=term()))
    with pytest.raises(ValueError, match='unknown record'):
        build(teacher, distill_losses=dict(loss_x=dict(loss=dict(type='KLResponseLoss'),
                                                       student='logits')))
    with pytest.raises(ValueError, match='unknown keys'):
        build(teacher, distill_losses=dict(loss_x=term(weight=1.0)))
    with pytest.raises(AttributeError, match="no sub-module 'nekc'"):
        build(teacher, distill_losses=dict(loss_x=term(student=dict(module='nekc'))))
    # channels differ (16 vs 32) and no connector: caught by the build-time probe
    with pytest.raises(ValueError, match=r"distill_losses\['loss_x'\] at level 0.*connector"):
        build(teacher, widen=0.0625, distill_losses=dict(loss_x=term()))
    with pytest.raises(IndexError, match='out of range'):
        build(teacher, distill_losses=dict(loss_x=term(levels=[3])))
