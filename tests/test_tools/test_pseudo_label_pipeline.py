"""tools/pseudo_label_pipeline.py: stage plan, state file, errors, and kill-and-resume."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
import pseudo_label_pipeline as plp  # noqa: E402

TINY = f"""
_base_ = '{REPO}/configs/gcd/gcd_vit-tiny_mnist5k.py'
max_epochs = 3
pseudo_label_pipeline = dict(stop_at_epoch=1, refresh_epochs=[2],
                             ssddbc=dict(ks=[3, 5], percentiles=[50, 70], num_workers=0))
model = dict(backbone=dict(num_layers=1, num_heads=2, hidden_dim=32, mlp_dim=64), feat_dim=32,
             hidden_dim=64, out_dim=32)
train_dataloader = dict(batch_size=32, dataset=dict(max_per_class=12))
val_dataloader = dict(dataset=dict(max_per_class=12))
train_cfg = dict(max_epochs=3, val_interval=3)
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, T_max=3, eta_min=1e-5)]
default_hooks = dict(logger=dict(interval=1))
"""


def test_plan_stages():
    names = [s['name'] for s in plp.plan_stages(50, [75, 60], 100)]
    assert names == ['train_000_050', 'cluster_050', 'train_050_060', 'cluster_060',
                     'train_060_075', 'cluster_075', 'train_075_100']
    with pytest.raises(ValueError, match='1..99'):
        plp.plan_stages(100, [], 100)


def _config(tmp_path, text=TINY):
    path = tmp_path / 'tiny_gcd.py'
    path.write_text(text)
    return str(path)


def test_corrupt_pseudo_labels_stop_with_a_clear_error(tmp_path, capsys):
    from cissreg.clustering import save_feature_cache
    cfg = _config(tmp_path)
    run = tmp_path / 'run'
    pipe = plp.Pipeline(cfg, str(run), {}, resume=False)
    save_feature_cache(pipe.path('feat', 1), np.arange(4), np.zeros((4, 2)), [0, -1, 1, -1],
                       [0, 0, 1, 1], dict(epoch=1))
    Path(pipe.path('pl', 1)).write_bytes(b'not a zip file')
    pipe.state['done'] = ['train_000_001']
    pipe._save()
    assert plp.main([cfg, '--resume-run-dir', str(run)]) == 2
    err = capsys.readouterr().err
    assert 'pseudo_labels/epoch_001.npz' in err and 'corrupt' in err
    assert json.loads((run / 'pipeline.json').read_text())['running'] == 'cluster_001'


def test_failing_stage_stops_with_its_exit_code_and_log(tmp_path, capsys):
    cfg = _config(tmp_path, TINY + "\nmodel.update(type='NoSuchModel')\n")
    run = tmp_path / 'run'
    rc = plp.main([cfg, '--run-dir', str(run)])
    assert rc != 0
    state = json.loads((run / 'pipeline.json').read_text())
    assert state['done'] == [] and state['history'][0]['rc'] == rc
    log = state['history'][0]['log']
    assert log in capsys.readouterr().err
    assert 'NoSuchModel' in Path(log).read_text()
    with pytest.raises(SystemExit, match='--resume-run-dir'):
        plp.main([cfg, '--run-dir', str(run)])


def _pipeline(cfg, *args):
    return subprocess.Popen([sys.executable, str(REPO / 'tools' / 'pseudo_label_pipeline.py'),
                             cfg, *args], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_during(proc, run: Path, stage: str, marker: str) -> None:
    """SIGKILL the pipeline and its child once ``stage`` runs and its log shows ``marker``."""
    deadline = time.time() + 600
    while time.time() < deadline:
        assert proc.poll() is None, f'pipeline ended before {stage} could be interrupted'
        try:
            state = json.loads((run / 'pipeline.json').read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            state = {}
        logs = list((run / 'logs').glob(f'stage_*_{stage}.log'))
        if state.get('running') == stage and logs and marker in logs[0].read_text():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.2)
    raise AssertionError(f'{stage} never showed {marker!r}')


@pytest.mark.skipif(not os.environ.get('CISSREG_SLOW_TESTS'),
                    reason='5 tiny training processes x 4 runs: minutes on 2 cores; set '
                    'CISSREG_SLOW_TESTS=1')
def test_killed_in_every_stage_resumes_to_the_same_result(tmp_path):
    cfg = _config(tmp_path)
    ref, run = tmp_path / 'ref', tmp_path / 'run'
    assert _pipeline(cfg, '--run-dir', str(ref)).wait() == 0
    proc = _pipeline(cfg, '--run-dir', str(run))
    _kill_during(proc, run, 'train_000_001', 'Epoch(train) [1][2/')   # stage 1, mid-epoch
    proc = _pipeline(cfg, '--resume-run-dir', str(run))
    _kill_during(proc, run, 'cluster_001', '-m cissreg.clustering')   # stage 2
    proc = _pipeline(cfg, '--resume-run-dir', str(run))
    _kill_during(proc, run, 'train_001_002', 'Epoch(train) [2][2/')   # stage 3
    # a deleted pseudo-label file is re-made from the checkpoint of its epoch
    (run / 'pseudo_labels' / 'epoch_001.npz').unlink()
    (run / 'features' / 'epoch_001.npz').unlink()
    assert _pipeline(cfg, '--resume-run-dir', str(run)).wait() == 0
    for epoch in (1, 2):
        a = np.load(ref / 'pseudo_labels' / f'epoch_{epoch:03d}.npz')
        b = np.load(run / 'pseudo_labels' / f'epoch_{epoch:03d}.npz')
        for key in ('indices', 'labels', 'core_mask', 'best_params'):
            np.testing.assert_array_equal(a[key], b[key])
    ref_w = torch.load(ref / 'checkpoints' / 'epoch_3.pth', weights_only=True)['state_dict']
    run_w = torch.load(run / 'checkpoints' / 'epoch_3.pth', weights_only=True)['state_dict']
    assert ref_w.keys() == run_w.keys()
    for key in ref_w:
        torch.testing.assert_close(run_w[key], ref_w[key], rtol=0, atol=0)
    state = json.loads((run / 'pipeline.json').read_text())
    assert len(state['done']) == 5 and state['clusters']['2']['change_rate'] is not None


def test_refresh_re_makes_the_previous_pseudo_labels_it_compares_with(tmp_path):
    """A kill inside ``cluster_002`` after epoch 1's files were deleted: the refresh's change
    rate needs epoch 1's labels, which are re-made from their checkpoint (not exit 2)."""
    cfg = _config(tmp_path)
    run = tmp_path / 'run'
    assert _pipeline(cfg, '--run-dir', str(run)).wait() == 0
    ref = {e: dict(np.load(run / 'pseudo_labels' / f'epoch_{e:03d}.npz')) for e in (1, 2)}
    state_file = run / 'pipeline.json'
    state = json.loads(state_file.read_text())
    assert state['done'][2] == 'train_001_002'
    state['done'], state['running'] = state['done'][:3], 'cluster_002'
    state_file.write_text(json.dumps(state))
    for name in ('pseudo_labels/epoch_002.npz', 'pseudo_labels/epoch_001.npz',
                 'features/epoch_001.npz'):
        (run / name).unlink()
    assert _pipeline(cfg, '--resume-run-dir', str(run)).wait() == 0
    for epoch in (1, 2):
        got = np.load(run / 'pseudo_labels' / f'epoch_{epoch:03d}.npz')
        for key in ('indices', 'labels', 'core_mask', 'best_params'):
            np.testing.assert_array_equal(got[key], ref[epoch][key])
    state = json.loads(state_file.read_text())
    assert len(state['done']) == 5 and state['clusters']['2']['change_rate'] is not None
