"""The reference framework's terms: CWD on 8 maps and one KL on the concatenated head output."""
import pytest
import torch

from cissreg.models.distillers import parse_records
from cissreg.models.losses import HeadResponseKL
from cissreg.testing.distill_parts import build, samples, write_teacher

FRAMEWORK_TERMS = dict(
    loss_cwd=dict(student='backbone_neck', loss=dict(type='ChannelWiseDivergence')),
    loss_kl=dict(student='head_response', loss=dict(type='HeadResponseKL', reg_max=16)))


def test_backbone_neck_records_eight_maps(tmp_path):
    model = build(write_teacher(tmp_path), distill_losses=FRAMEWORK_TERMS)
    inputs = torch.rand(2, 3, 64, 64)
    student_maps, teacher_maps = model._record(inputs, run_student=model.student)
    maps = student_maps['loss_cwd']
    # backbone C2 (stride 4), C3, C4, C5, neck top-down P4, then P3, P4, P5
    assert [m.shape[-1] for m in maps] == [16, 8, 4, 2, 4, 8, 4, 2]
    assert [m.shape for m in maps] == [m.shape for m in teacher_maps['loss_cwd']]
    with torch.no_grad():
        c = model.student.backbone.stem(inputs)
        stages = []
        for i in range(1, 5):
            c = getattr(model.student.backbone, f'stage{i}')(c)
            stages.append(c)
        neck = model.student.neck(stages[1:])
        cls_scores, box_dists = model.student.bbox_head.head_module(neck)
    for got, want in zip(maps, stages + [maps[4]] + list(neck)):
        torch.testing.assert_close(got, want)
    assert maps[4].shape == neck[1].shape and not torch.allclose(maps[4], neck[1])
    # head_response: per level box bins then class logits
    for level, got in enumerate(student_maps['loss_kl']):
        torch.testing.assert_close(got, torch.cat([box_dists[level], cls_scores[level]], 1))
        assert got.shape[1] == 64 + 6
    assert teacher_maps['loss_kl'][0].shape[1] == 64 + 3
    losses = model.loss(inputs, samples(2, 64))
    assert losses['loss_cwd'] > 0 and losses['loss_kl'] > 0


def _reference(students, teachers, tau, class_indexes, reg_max=16):
    """float64: levels concatenated over anchors, then one KL, sum / (N * C_teacher)."""
    s = torch.cat([x.double().flatten(2) for x in students], 2)  # [N, 4R + Cs, A]
    t = torch.cat([x.double().flatten(2) for x in teachers], 2)
    n, b = s.shape[0], 4 * reg_max
    total = 0.
    for side in range(4):
        ps = torch.softmax(s[:, side * reg_max:(side + 1) * reg_max] / tau, 1)
        pt = torch.softmax(t[:, side * reg_max:(side + 1) * reg_max] / tau, 1)
        total = total + (pt * (pt.log() - ps.log())).sum()
    cls_s = s[:, b:][:, class_indexes]
    ps, pt = torch.softmax(cls_s / tau, 1), torch.softmax(t[:, b:] / tau, 1)
    total = total + (pt * (pt.log() - ps.log())).sum()
    return total * tau**2 / (n * t.shape[1])


@pytest.mark.parametrize('tau,class_indexes', [(1.0, None), (2.0, [4, 0, 2])])
def test_head_response_kl_matches_float64_reference(tau, class_indexes):
    torch.manual_seed(0)
    sizes = [(8, 8), (4, 4), (2, 2)]
    students = [torch.randn(2, 64 + 6, *hw, requires_grad=True) for hw in sizes]
    teachers = [torch.randn(2, 64 + 3, *hw) * 2 for hw in sizes]
    loss_fn = HeadResponseKL(tau=tau, reg_max=16, class_indexes=class_indexes, loss_weight=0.5)
    ours = sum(loss_fn(s, t) for s, t in zip(students, teachers))
    ref_inputs = [s.detach().double().requires_grad_() for s in students]
    ref = 0.5 * _reference(ref_inputs, teachers, tau, class_indexes or [0, 1, 2])
    torch.testing.assert_close(ours.double(), ref, rtol=1e-5, atol=1e-7)
    ours.backward()
    ref.backward()
    for s, r in zip(students, ref_inputs):
        torch.testing.assert_close(s.grad.double(), r.grad, rtol=1e-4, atol=1e-8)


def test_head_response_kl_errors():
    with pytest.raises(ValueError, match=r'more than 64 channels'):
        HeadResponseKL()(torch.randn(1, 64, 2, 2), torch.randn(1, 64, 2, 2))
    with pytest.raises(ValueError, match='class_indexes'):
        HeadResponseKL(class_indexes=[0, 9])(torch.randn(1, 70, 2, 2), torch.randn(1, 66, 2, 2))


def test_record_grammar():
    sources = parse_records(['neck', dict(module='backbone.stage1')])
    assert [s.module for s in sources] == ['neck', 'backbone.stage1']
    (concat, ) = parse_records('head_response')
    assert [p.index for p in concat.parts] == [(1, ), (0, )]
    with pytest.raises(ValueError, match='two or more plain records'):
        parse_records(dict(concat=['neck']))
    with pytest.raises(ValueError, match="unknown record 'necks'"):
        parse_records(['necks'])
    with pytest.raises(ValueError, match='must not be empty'):
        parse_records([])
