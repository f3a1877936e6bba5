"""End to end on the shapes default (tiny): train the teacher config, distil the student with
tools/train.py, evaluate with tools/test.py, export the student and evaluate it with the plain
student config."""
import importlib.util
import json
import pickle
import sys
from pathlib import Path

import torch

from cissreg.registry import RUNNERS

REPO = Path(__file__).resolve().parents[2]
DISTILL = REPO / 'configs' / 'distill'
LOSS_TERMS = ('loss', 'loss_cls', 'loss_bbox', 'loss_dfl', 'loss_cwd', 'loss_kl_cls',
              'loss_kl_box')

# 8 train / 4 val images of 64 px, batch 4, one epoch: two iterations per run
TINY = """
data_root = {data_root!r}
img_scale = (64, 64)
small = dict(data_root=data_root, img_size=64, num_train=8, num_val=4, object_size=(12, 40),
             num_objects=(2, 4))
train_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='LoadDetAnnotations'),
    dict(type='LetterResize', scale=img_scale), dict(type='PackDetInputs')]
test_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='LoadDetAnnotations'),
    dict(type='LetterResize', scale=img_scale, allow_scale_up=False), dict(type='PackDetInputs')]
train_dataset = dict(pipeline=train_pipeline, **small)
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(pipeline=test_pipeline, **small))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=1)]
default_hooks = dict(logger=dict(interval=1))
"""


def _load_tool(relative: str):
    path = REPO / 'tools' / relative
    spec = importlib.util.spec_from_file_location(f'cissreg_tool_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_tool(monkeypatch, relative: str, *argv: str, capture: dict = None) -> None:
    """Run ``tools/<relative> argv...`` in this process; optionally keep the Runner it builds."""
    tool = _load_tool(relative)
    if capture is not None:

        class KeepRunner:

            @staticmethod
            def build(cfg):
                capture['runner'] = RUNNERS.build(cfg)
                return capture['runner']

        monkeypatch.setattr(tool, 'RUNNERS', KeepRunner)
    monkeypatch.setattr(sys, 'argv', [relative, *argv])
    tool.main()


def _names(name: str) -> tuple:
    """Runner and visualizer names of one run (mmengine reuses instances with the same name)."""
    return f'experiment_name={name}', f'visualizer.name={name}'


# the teacher trains on the dataset, a student on its few-shot subset (all 8 images here)
TEACHER_TRAIN = """
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=train_dataset)
"""
STUDENT_TRAIN = """
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(shots=8, dataset=train_dataset))
"""


def _write(path: Path, base: Path, extra: str, data_root: Path) -> str:
    train = TEACHER_TRAIN if 'teacher' in base.name else STUDENT_TRAIN
    path.write_text(f'_base_ = {str(base)!r}\n' + TINY.format(data_root=str(data_root))
                    + train + extra)
    return str(path)


def test_teacher_then_distillation_then_export(tmp_path, monkeypatch):
    data_root = tmp_path / 'shapes'
    teacher_cfg = _write(tmp_path / 'teacher_tiny.py',
                         DISTILL / 'yolov8_n_teacher-first-half_shapes.py', '', data_root)
    distill_cfg = _write(
        tmp_path / 'cwd_kl_tiny.py', DISTILL / 'cwd-kl_yolov8_n_shapes.py',
        f'model = dict(teacher_config={teacher_cfg!r}, '
        f'teacher_ckpt={str(tmp_path / "teacher")!r})\n', data_root)
    student_cfg = _write(tmp_path / 'student_tiny.py', DISTILL / 'yolov8_n_no-kd_shapes.py',
                         f'model = dict(init_cfg=dict(checkpoint={str(tmp_path / "teacher")!r}))\n',
                         data_root)

    # 1. the teacher config trains on the first half of the classes
    _run_tool(monkeypatch, 'train.py', teacher_cfg, '--work-dir', str(tmp_path / 'teacher'),
              '--cfg-options', *_names('teacher'))
    teacher_ckpt = (tmp_path / 'teacher' / 'last_checkpoint').read_text()
    teacher_state = torch.load(teacher_ckpt, weights_only=True)['state_dict']
    assert teacher_state['bbox_head.head_module.cls_preds.0.2.weight'].shape[0] == 3

    # 2. distillation through tools/train.py (the teacher found through its work dir)
    captured = {}
    _run_tool(monkeypatch, 'train.py', distill_cfg, '--work-dir', str(tmp_path / 'distill'),
              '--cfg-options', *_names('distill'), capture=captured)
    runner = captured['runner']
    teacher = runner.model.teacher
    # teacher weights and BN statistics bit-identical to its checkpoint after training
    after = teacher.state_dict()
    assert set(after) == set(teacher_state)
    for key, value in teacher_state.items():
        assert torch.equal(after[key], value), key
    assert not teacher.training
    # the teacher is not in the optimizer; the student and nothing else is
    in_optimizer = {id(p) for group in runner.optim_wrapper.optimizer.param_groups
                    for p in group['params']}
    assert not in_optimizer & {id(p) for p in teacher.parameters()}
    assert in_optimizer == {id(p) for p in runner.model.parameters()}
    # every loss term is logged at every iteration
    scalars = next((tmp_path / 'distill').glob('*/vis_data/scalars.json'))
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    train_records = [r for r in records if 'loss' in r]
    assert len(train_records) == 2
    for record in train_records:
        assert all(term in record for term in LOSS_TERMS), record
        assert record['loss_cwd'] > 0 and record['loss_kl_cls'] > 0 and record['loss_kl_box'] > 0
    distill_ckpt = tmp_path / 'distill' / 'epoch_1.pth'
    assert all(k.startswith('student.') for k in
               torch.load(distill_ckpt, weights_only=True)['state_dict'])

    # 3. tools/test.py on the distillation config evaluates the student
    _run_tool(monkeypatch, 'test.py', distill_cfg, str(distill_ckpt), '--work-dir',
              str(tmp_path / 'test_distill'), '--out', str(tmp_path / 'distill.pkl'),
              '--cfg-options', *_names('test_distill'))

    # 4. export a plain student checkpoint and evaluate it with the plain student config
    exported = tmp_path / 'student.pth'
    _run_tool(monkeypatch, 'model_converters/export_student.py', str(distill_ckpt),
              str(exported), '--student-config', student_cfg)
    _run_tool(monkeypatch, 'test.py', student_cfg, str(exported), '--work-dir',
              str(tmp_path / 'test_student'), '--out', str(tmp_path / 'student.pkl'),
              '--cfg-options', *_names('test_student'))
    with open(tmp_path / 'distill.pkl', 'rb') as f:
        from_distiller = pickle.load(f)
    with open(tmp_path / 'student.pkl', 'rb') as f:
        from_student = pickle.load(f)
    assert len(from_distiller) == len(from_student) == 4
    for a, b in zip(from_distiller, from_student):
        assert a['img_path'] == b['img_path']
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(a['pred_instances'][key], b['pred_instances'][key]), key
