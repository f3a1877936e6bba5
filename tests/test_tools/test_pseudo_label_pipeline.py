"""tools/pseudo_label_pipeline.py: stage plan, state file, errors, and kill-and-resume."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import torch

from cissreg.testing.tools import load_tool

REPO = Path(__file__).resolve().parents[2]
plp = load_tool('pseudo_label_pipeline.py')

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
    pipe.lock.release()
    assert plp.main([cfg, '--resume-run-dir', str(run)]) == 2
    err = capsys.readouterr().err
    assert 'pseudo_labels/epoch_001.npz' in err and 'corrupt' in err
    assert json.loads((run / 'pipeline.json').read_text())['running'] == 'cluster_001'


def _fake_clustering(pipe, epoch: int, pseudo: list) -> None:
    """Feature cache and pseudo labels of ``epoch`` for 6 samples, as a finished stage (or the
    orphaned stage of a killed run) leaves them."""
    from cissreg.clustering import feature_digest, save_feature_cache, save_pseudo_labels
    feat = pipe.path('feat', epoch)
    save_feature_cache(feat, np.arange(6), np.eye(6), [0, -1, 1, -1, -1, -1], [0, 0, 1, 1, 2, 2],
                       dict(epoch=epoch))
    save_pseudo_labels(pipe.path('pl', epoch), np.arange(6), pseudo, np.ones(6, bool),
                       np.ones(6), dict(k=3, percentile=50.0), 0.5,
                       dict(epoch=epoch, feature_sha256=feature_digest(feat)))


def test_reused_pseudo_labels_get_their_cluster_stats(tmp_path):
    """Pseudo labels already on disk (written by the stage of a killed run) are reused and
    their stats (clusters, core ratio, labelled accuracy, change rate) still recorded."""
    pipe = plp.Pipeline(_config(tmp_path), str(tmp_path / 'run'), {}, resume=False)
    _fake_clustering(pipe, 1, [0, 0, 1, 1, 5, 5])
    _fake_clustering(pipe, 2, [1, 1, 0, 0, 5, 6])  # ids swapped, one sample moved
    log = str(tmp_path / 'run' / 'logs' / 'cluster.log')
    assert pipe._cluster(dict(epoch=1), log) == 0
    assert pipe._cluster(dict(epoch=2), log) == 0
    assert 'reusing' in Path(log).read_text()
    first, second = pipe.state['clusters']['1'], pipe.state['clusters']['2']
    assert first['num_clusters'] == 3 and 'change_rate' not in first
    assert first['labelled_acc'] == 1.0 and second['labelled_acc'] == 0.0
    assert second['num_clusters'] == 4 and second['core_ratio'] == 1.0
    assert second['change_rate'] == pytest.approx(1 / 6)  # after matching cluster ids
    assert second['best_params'] == dict(k=3, percentile=50.0)


def test_second_orchestrator_is_refused(tmp_path):
    cfg, run = _config(tmp_path), str(tmp_path / 'run')
    first = plp.Pipeline(cfg, run, {}, resume=False)
    with pytest.raises(SystemExit, match=f'in use \\(orchestrator pid {os.getpid()}\\)'):
        plp.Pipeline(cfg, run, {}, resume=True)
    first.lock.release()
    plp.Pipeline(cfg, run, {}, resume=True).lock.release()


def test_orphaned_stage_keeps_the_run_dir_locked(tmp_path):
    """A stage process inherits the lock: after its orchestrator is gone, a resume is refused
    until the stage has ended."""
    import threading
    cfg, run = _config(tmp_path), str(tmp_path / 'run')
    pipe = plp.Pipeline(cfg, run, {}, resume=False)
    marker = tmp_path / 'stage_pid'
    script = (f'import os, time; os.fstat({pipe.lock.fd}); '
              f'open({str(marker)!r}, "w").write(str(os.getpid())); time.sleep(120)')
    stage = threading.Thread(target=pipe._child,
                             args=([sys.executable, '-c', script], str(tmp_path / 'stage.log')))
    stage.start()
    deadline = time.time() + 60
    while not (marker.exists() and marker.read_text()):
        assert stage.is_alive() and time.time() < deadline, (tmp_path / 'stage.log').read_text()
        time.sleep(0.05)
    pipe.lock.release()  # the orchestrator is gone, its stage still runs
    with pytest.raises(SystemExit, match='still runs there'):
        plp.Pipeline(cfg, run, {}, resume=True)
    os.kill(int(marker.read_text()), signal.SIGKILL)
    stage.join()
    plp.Pipeline(cfg, run, {}, resume=True).lock.release()


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


PAUSE_SITE = Path(__file__).resolve().parent / 'pause_site'


def _pipeline(cfg, *args, pause: str = None, marker: Path = None):
    """The pipeline as a subprocess (own process group); with ``pause``, every process it
    starts blocks at that point (``pause_site/sitecustomize.py``) after creating ``marker``."""
    env = dict(os.environ)
    if pause:
        env.update(CISSREG_PAUSE_AT=pause, CISSREG_PAUSE_MARKER=str(marker),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(PAUSE_SITE),
                                                            env.get('PYTHONPATH')])))
    return subprocess.Popen([sys.executable, str(REPO / 'tools' / 'pseudo_label_pipeline.py'),
                             cfg, *args], cwd=REPO, start_new_session=True, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_at(cfg, run: Path, pause: str, stage: str) -> None:
    """Resume (or start) the pipeline, let it block at ``pause`` and SIGKILL it and its
    children there; the stage running then must be ``stage``."""
    marker = run.parent / 'paused'
    marker.unlink(missing_ok=True)
    args = ['--resume-run-dir', str(run)] if (run / 'pipeline.json').exists() else [
        '--run-dir', str(run)]
    proc = _pipeline(cfg, *args, pause=pause, marker=marker)
    deadline = time.time() + 600
    while not marker.exists():
        assert proc.poll() is None, f'the pipeline ended before it reached {pause}'
        assert time.time() < deadline, f'the pipeline never reached {pause}'
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((run / 'pipeline.json').read_text())['running'] == stage


def _assert_same_pseudo_labels(run: Path, ref: Dict[int, dict]) -> None:
    for epoch in (1, 2):
        got = np.load(run / 'pseudo_labels' / f'epoch_{epoch:03d}.npz')
        for key in ('indices', 'labels', 'core_mask', 'best_params'):
            np.testing.assert_array_equal(got[key], ref[epoch][key])


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    """An uninterrupted run of the tiny pipeline: (config, run dir, pseudo labels by epoch)."""
    tmp = tmp_path_factory.mktemp('reference')
    cfg = _config(tmp)
    run = tmp / 'run'
    assert _pipeline(cfg, '--run-dir', str(run)).wait() == 0
    # one visualizer directory for all stages: JSON scalars and one TensorBoard event file per
    # training stage (tensorboard reads them as one run)
    vis = run / 'logs' / 'vis_data'
    assert len(list(vis.glob('events.out.tfevents.*'))) == 3
    assert [p.name for p in (run / 'logs').iterdir() if p.is_dir()] == ['vis_data']
    labels = {e: dict(np.load(run / 'pseudo_labels' / f'epoch_{e:03d}.npz')) for e in (1, 2)}
    return cfg, run, labels


def test_killed_in_every_stage_resumes_to_the_same_result(reference, tmp_path):
    """SIGKILL in iteration 2 of stage 1, in the pseudo-label write of stage 2 and in iteration
    2 of stage 3; then the files of epoch 1 deleted: the resumed run ends with the reference's
    pseudo labels and bit-identical final weights."""
    cfg, ref, ref_labels = reference
    run = tmp_path / 'run'
    _kill_at(cfg, run, 'backward:2', 'train_000_001')
    assert not (run / 'checkpoints' / 'epoch_1.pth').exists()
    _kill_at(cfg, run, 'fsync:pseudo_labels/.epoch_001.npz', 'cluster_001')
    assert not (run / 'pseudo_labels' / 'epoch_001.npz').exists()
    _kill_at(cfg, run, 'backward:2', 'train_001_002')
    assert not (run / 'checkpoints' / 'epoch_2.pth').exists()
    # a deleted pseudo-label file is re-made from the checkpoint of its epoch
    (run / 'pseudo_labels' / 'epoch_001.npz').unlink()
    (run / 'features' / 'epoch_001.npz').unlink()
    assert _pipeline(cfg, '--resume-run-dir', str(run)).wait() == 0
    _assert_same_pseudo_labels(run, ref_labels)
    ref_w = torch.load(ref / 'checkpoints' / 'epoch_3.pth', weights_only=True)['state_dict']
    run_w = torch.load(run / 'checkpoints' / 'epoch_3.pth', weights_only=True)['state_dict']
    assert ref_w.keys() == run_w.keys()
    for key in ref_w:
        torch.testing.assert_close(run_w[key], ref_w[key], rtol=0, atol=0)
    state = json.loads((run / 'pipeline.json').read_text())
    assert len(state['done']) == 5 and state['clusters']['2']['change_rate'] is not None
    assert not list(run.rglob('*.tmp'))


def test_refresh_re_makes_the_previous_pseudo_labels_it_compares_with(reference, tmp_path):
    """A kill inside ``cluster_002`` after epoch 1's files were deleted: the refresh's change
    rate needs epoch 1's labels, which are re-made from their checkpoint (not exit 2)."""
    cfg, ref, ref_labels = reference
    run = tmp_path / 'run'
    shutil.copytree(ref, run)
    state_file = run / 'pipeline.json'
    state = json.loads(state_file.read_text())
    assert state['done'][2] == 'train_001_002'
    state['done'], state['running'] = state['done'][:3], 'cluster_002'
    state_file.write_text(json.dumps(state))
    for name in ('pseudo_labels/epoch_002.npz', 'pseudo_labels/epoch_001.npz',
                 'features/epoch_001.npz'):
        (run / name).unlink()
    assert _pipeline(cfg, '--resume-run-dir', str(run)).wait() == 0
    _assert_same_pseudo_labels(run, ref_labels)
    state = json.loads(state_file.read_text())
    assert len(state['done']) == 5 and state['clusters']['2']['change_rate'] is not None
