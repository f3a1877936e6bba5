"""tools/analysis_tools/plot_curves.py on synthetic mmengine / mmcv logs."""
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import cv2
import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'plot_curves.py')
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def _load_tool():
    spec = importlib.util.spec_from_file_location('plot_curves_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_lines(path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))


def _train(it, epoch, run):
    # The value encodes run and iteration so the concatenation can be checked.
    return dict(lr=0.01, data_time=0.001, loss=run * 100 + it, loss_cls=0.5 * it,
                loss_bbox=0.25 * it, time=0.02, epoch=epoch, iter=it, memory=100, step=it)


def _val(epoch, run):
    return {'coco/bbox_mAP': run * 10 + epoch, 'coco/bbox_mAP_50': 0.1 * epoch,
            'data_time': 0.001, 'time': 0.01, 'step': epoch}


@pytest.fixture
def resumed_work_dir(tmp_path):
    """Run 1: epochs 1-3 (2 iters each), killed; run 2 resumed from the epoch-2 checkpoint."""
    run1 = [_train(1, 1, 1), _train(2, 1, 1), _val(1, 1), _train(3, 2, 1), _train(4, 2, 1),
            _val(2, 1), _train(5, 3, 1), _train(6, 3, 1), _val(3, 1)]
    run2 = [_train(5, 3, 2), _train(6, 3, 2), _val(3, 2), _train(7, 4, 2), _train(8, 4, 2),
            _val(4, 2)]
    _write_lines(tmp_path / '20260101_000000' / 'vis_data' / 'scalars.json', run1)
    _write_lines(tmp_path / '20260101_020000' / 'vis_data' / 'scalars.json', run2)
    (tmp_path / '20260101_030000').mkdir()  # a test run: no scalars.json
    return tmp_path


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def _assert_png(path) -> None:
    with open(path, 'rb') as f:
        assert f.read(8) == PNG_SIGNATURE
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 100
    assert (image < 200).any(), 'blank figure'


def test_default_keys_write_train_and_val_pngs(resumed_work_dir):
    result = _run(resumed_work_dir)
    assert result.returncode == 0, result.stderr
    out_dir = resumed_work_dir / 'curves'
    for name in ('overview.png', 'train_curves.png', 'val_curves.png'):
        _assert_png(out_dir / name)
        assert str(out_dir / name) in result.stdout


def test_chosen_keys_and_out_dir(resumed_work_dir, tmp_path):
    out = tmp_path / 'plots'
    written = _load_tool().main([str(resumed_work_dir), '--keys', 'loss_cls', '--out', str(out)])
    assert written == [str(out / 'train_curves.png')]
    _assert_png(out / 'train_curves.png')
    assert not (out / 'val_curves.png').exists()


def test_unknown_key_names_available_keys(resumed_work_dir):
    result = _run(resumed_work_dir, '--keys', 'loss_dfl')
    assert result.returncode != 0
    assert 'loss_dfl' in result.stderr and 'coco/bbox_mAP' in result.stderr


def test_missing_logs_name_the_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        _load_tool().main([str(tmp_path)])


def test_resumed_runs_concatenated_in_time_order(resumed_work_dir):
    tool = _load_tool()
    files = tool.find_log_files(str(resumed_work_dir))
    assert [osp.basename(osp.dirname(osp.dirname(f))) for f in files] == \
        ['20260101_000000', '20260101_020000']
    logs = [tool.read_log(f) for f in files]
    train = tool.concat_runs([log[0] for log in logs])
    val = tool.concat_runs([log[1] for log in logs])
    # Iterations 5-6 and epoch 3 were redone by the resumed run: its values replace run 1's.
    assert train['loss'] == [(1, 101), (2, 102), (3, 103), (4, 104), (5, 205), (6, 206),
                             (7, 207), (8, 208)]
    assert val['coco/bbox_mAP'] == [(1, 11), (2, 12), (3, 23), (4, 24)]
    assert all(log[2] for log in logs)  # epoch-based


def test_mmcv_log_json_counts_global_iterations(tmp_path):
    records = [dict(env_info='...', config='...')]
    for epoch in (1, 2):
        for it in (10, 20, 30):
            records.append(dict(mode='train', epoch=epoch, iter=it, lr=0.1, loss=epoch + it / 100))
        records.append(dict(mode='val', epoch=epoch, iter=5, bbox_mAP=0.1 * epoch))
    _write_lines(tmp_path / '20250101_000000.log.json', records)
    tool = _load_tool()
    train, val, by_epoch = tool.read_log(tool.find_log_files(str(tmp_path))[0])
    assert [x for x, _ in train['loss']] == [10, 20, 30, 40, 50, 60]
    assert val['bbox_mAP'] == [(1, 0.1), (2, 0.2)] and by_epoch
    _load_tool().main([str(tmp_path), '--out', str(tmp_path / 'o')])
    _assert_png(tmp_path / 'o' / 'train_curves.png')
    _assert_png(tmp_path / 'o' / 'val_curves.png')


def test_not_available_series_skipped_and_headline_keys_first(tmp_path):
    """-1 (n/a) metrics are not drawn; mAP, mAP50 and the total loss lead their pages."""
    records = []
    for epoch in (1, 2, 3):
        records.append(dict(loss_dfl=1.0 / epoch, loss=3.0 / epoch, loss_cls=1.0, epoch=epoch,
                            iter=epoch, step=epoch))
        records.append({'coco/bbox_mAP_l': -1.0, 'coco/bbox_mAP_s': -1.0 if epoch < 3 else 0.2,
                        'coco/bbox_AR@100': 0.3, 'coco/bbox_mAP_50': 0.5,
                        'coco/bbox_mAP': 0.4 * epoch, 'step': epoch})
    _write_lines(tmp_path / '20260101_000000' / 'vis_data' / 'scalars.json', records)
    tool = _load_tool()
    val = tool.drop_not_available(tool.read_log(tool.find_log_files(str(tmp_path))[0])[1])
    assert 'coco/bbox_mAP_l' not in val and val['coco/bbox_mAP_s'] == [(3, 0.2)]
    keys = tool.headline_first([k for k in val if k not in tool.BOOKKEEPING_KEYS],
                               tool.HEADLINE_METRICS)
    assert keys[:2] == ['coco/bbox_mAP', 'coco/bbox_mAP_50']
    assert tool.headline_first(['loss_cls', 'loss_dfl', 'loss'], ['loss'])[0] == 'loss'
    written = tool.main([str(tmp_path)])
    assert [osp.basename(w) for w in written] == ['overview.png', 'train_curves.png',
                                                  'val_curves.png']
    for path in written:
        _assert_png(path)
