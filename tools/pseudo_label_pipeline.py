"""Three-stage GCD pipeline: train -> cluster -> train with pseudo labels, as child processes.

Usage:
    python tools/pseudo_label_pipeline.py CONFIG --run-dir DIR [--cfg-options K=V ...]
    python tools/pseudo_label_pipeline.py CONFIG --resume-run-dir DIR

The config's ``pseudo_label_pipeline = dict(stop_at_epoch=S, refresh_epochs=[R1, ...],
ssddbc=dict(...))`` and ``train_cfg.max_epochs = E`` give the stages::

    train 0 -> S | cluster S | train S -> R1 (pseudo labels of S) | cluster R1 | ... | train -> E

Run directory: ``checkpoints/`` (work dir of every training stage: ``epoch_N.pth`` and
mmengine's text logs), ``features/epoch_{epoch:03d}.npz``,
``pseudo_labels/epoch_{epoch:03d}.npz``, ``logs/`` (one visualizer directory continued by all
stages: ``vis_data/scalars.json`` and the TensorBoard event files, plus each stage's console
output ``stage_NN_<name>.log``), ``pipeline.json`` (state, written atomically before and after
every stage) and ``pipeline.lock`` (held while an orchestrator or one of its stages runs).
``--resume-run-dir`` continues at the first stage not done: a training stage resumes from its
newest checkpoint, existing pseudo labels are checked against their features and reused, missing
features / pseudo labels are re-made from the checkpoint of their epoch. A stage that fails
stops the pipeline with its exit code.
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Dict, List, Optional

from mmengine.config import DictAction

from cissreg.clustering.cache_io import (PseudoLabelFileError, feature_digest, load_feature_cache,
                                         load_pseudo_labels)
from cissreg.utils.atomic_io import atomic_write_text, remove_stale_temp_files
from cissreg.utils.config_loading import load_config

TOOLS = osp.dirname(osp.abspath(__file__))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='GCD pseudo-label pipeline')
    parser.add_argument('config', help='config with a pseudo_label_pipeline dict')
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--run-dir', help='new run directory')
    group.add_argument('--resume-run-dir', help='continue the run in this directory')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='passed to every training stage (kept in pipeline.json)')
    return parser.parse_args(argv)


def plan_stages(stop_at: int, refresh: List[int], max_epochs: int) -> List[Dict]:
    """Stage list: training segments between the clustering epochs, each clustering epoch."""
    epochs = sorted({int(stop_at), *(int(r) for r in refresh)})
    if epochs[0] <= 0 or epochs[-1] >= max_epochs:
        raise ValueError(f'pseudo_label_pipeline: stop_at_epoch / refresh_epochs must lie in '
                         f'1..{max_epochs - 1}, got {epochs}')
    stages, start, labels = [], 0, None
    for epoch in epochs:
        stages.append(dict(name=f'train_{start:03d}_{epoch:03d}', kind='train', start=start,
                           end=epoch, pseudo_epoch=labels))
        stages.append(dict(name=f'cluster_{epoch:03d}', kind='cluster', epoch=epoch))
        start, labels = epoch, epoch
    stages.append(dict(name=f'train_{start:03d}_{max_epochs:03d}', kind='train', start=start,
                       end=max_epochs, pseudo_epoch=labels))
    return stages


class RunDirLock:
    """An exclusive ``flock`` on ``pipeline.lock`` of a run directory, or a clear error.

    The stage processes inherit the locked file descriptor, so the lock is held until the
    orchestrator *and* every stage it started have ended: a second orchestrator, or a resume
    while a stage of a killed orchestrator still runs (an orphan that would write the same
    files), stops with a message naming the holder's process id.
    """

    def __init__(self, path: str) -> None:
        import fcntl
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 200, 0).decode(errors='replace').strip()
            os.close(self.fd)
            raise SystemExit(f'{osp.dirname(path)} is in use ({holder or "unknown holder"}): '
                             'another orchestrator, or a stage process it started, still runs '
                             'there. Wait for it to end or kill that process, then resume with '
                             '--resume-run-dir.') from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f'orchestrator pid {os.getpid()}'.encode(), 0)

    def release(self) -> None:
        """Close this process's descriptor (the lock ends when no stage holds it either)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Pipeline:
    """Runs the stages of one run directory and keeps ``pipeline.json`` up to date."""

    def __init__(self, config: str, run_dir: str, cfg_options: Dict, resume: bool) -> None:
        self.run_dir = osp.abspath(run_dir)
        self.state_file = osp.join(self.run_dir, 'pipeline.json')
        if resume and not osp.isfile(self.state_file):
            raise SystemExit(f'--resume-run-dir: {self.state_file} not found')
        os.makedirs(self.run_dir, exist_ok=True)
        self.lock = RunDirLock(osp.join(self.run_dir, 'pipeline.lock'))
        if resume:
            with open(self.state_file) as f:
                self.state = json.load(f)
            config = config if osp.isfile(config) else self.state['config']
            cfg_options = self.state['cfg_options']
        elif osp.isfile(self.state_file):
            raise SystemExit(f'{self.run_dir} already holds a run; continue it with '
                             '--resume-run-dir')
        self.config = osp.abspath(config)
        cfg = load_config(self.config, cfg_options)
        plp = cfg.get('pseudo_label_pipeline')
        if plp is None:
            raise SystemExit(f'{config} has no pseudo_label_pipeline dict')
        self.ssddbc = dict(plp.get('ssddbc', {}))
        self.max_epochs = int(cfg.train_cfg.max_epochs)
        stages = plan_stages(plp['stop_at_epoch'], plp.get('refresh_epochs', []),
                             self.max_epochs)
        if not resume:
            self.state = dict(config=self.config, cfg_options=cfg_options, stages=stages,
                              done=[], running=None, history=[])
        self.stages = self.state['stages']
        for sub in ('checkpoints', 'features', 'pseudo_labels', 'logs'):
            os.makedirs(osp.join(self.run_dir, sub), exist_ok=True)
        # unfinished writes of a killed run (the training stage cleans its checkpoint folder)
        for sub in ('features', 'pseudo_labels'):
            for name in remove_stale_temp_files(osp.join(self.run_dir, sub)):
                print(f'removed the temp file of an interrupted write: {sub}/{name}')
        self._save()

    def path(self, kind: str, epoch: int) -> str:
        folder, name = dict(ckpt=('checkpoints', f'epoch_{epoch}.pth'),
                            feat=('features', f'epoch_{epoch:03d}.npz'),
                            pl=('pseudo_labels', f'epoch_{epoch:03d}.npz'))[kind]
        return osp.join(self.run_dir, folder, name)

    def _save(self) -> None:
        atomic_write_text(self.state_file, json.dumps(self.state, indent=2))

    def run(self) -> int:
        for i, stage in enumerate(self.stages):
            if stage['name'] in self.state['done']:
                continue
            self.state['running'] = stage['name']
            self._save()
            log = osp.join(self.run_dir, 'logs', f'stage_{i:02d}_{stage["name"]}.log')
            start = time.time()
            rc = (self._train(stage, log) if stage['kind'] == 'train'
                  else self._cluster(stage, log))
            seconds = round(time.time() - start, 1)
            entry = dict(stage=stage['name'], rc=rc, log=log, seconds=seconds)
            self.state['history'].append(entry)
            if rc != 0:
                self.state['running'] = None
                self._save()
                print(f'stage {stage["name"]} failed with exit code {rc}; log: {log}',
                      file=sys.stderr)
                return rc
            self.state['done'].append(stage['name'])
            self.state['running'] = None
            self._save()
        print(f'pipeline finished: {self.run_dir}')
        return 0

    def _child(self, cmd: List[str], log: str) -> int:
        with open(log, 'a') as f:
            f.write(f'\n$ {" ".join(cmd)}\n')
            f.flush()
            return subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT,
                                   pass_fds=(self.lock.fd, ))

    def _latest_checkpoint(self, start: int, end: int) -> Optional[int]:
        epochs = [int(m.group(1)) for p in glob.glob(osp.join(self.run_dir, 'checkpoints',
                                                              'epoch_*.pth'))
                  if (m := re.search(r'epoch_(\d+)\.pth$', p))]
        inside = [e for e in epochs if start <= e <= end]
        return max(inside) if inside else None

    def _train(self, stage: Dict, log: str) -> int:
        start, end, pl_epoch = stage['start'], stage['end'], stage['pseudo_epoch']
        feat_file = self.path('feat', end)
        latest = self._latest_checkpoint(start, end)
        if latest == end:  # trained already; only the feature cache may be missing
            return 0 if self._valid_features(feat_file) else self._cache(end, log)
        if start > 0 and latest is None:
            print(f'{stage["name"]}: checkpoint {self.path("ckpt", start)} is missing',
                  file=sys.stderr)
            return 1
        options = dict(self.state['cfg_options'])
        options.update({'default_hooks.stop_at_epoch.stop_at_epoch': end,
                        'default_hooks.feature_cache.out_file': feat_file,
                        'visualizer.save_dir': osp.join(self.run_dir, 'logs')})
        if pl_epoch is not None:
            pl_file = self.path('pl', pl_epoch)
            if not osp.isfile(pl_file):  # deleted: re-made from the checkpoint of its epoch
                rc = self._cluster(dict(epoch=pl_epoch), log)
                if rc != 0:
                    return rc
            self._check_pseudo_labels(pl_file, pl_epoch)
            options['train_dataloader.dataset.pseudo_labels'] = pl_file
        cmd = [sys.executable, osp.join(TOOLS, 'train.py'), self.config, '--work-dir',
               osp.join(self.run_dir, 'checkpoints')]
        if latest is not None:
            cmd += ['--resume', self.path('ckpt', latest)]
        cmd += ['--cfg-options'] + [f'{k}={_option(v)}' for k, v in options.items()]
        return self._child(cmd, log)

    def _cache(self, epoch: int, log: str) -> int:
        ckpt = self.path('ckpt', epoch)
        if not osp.isfile(ckpt):
            print(f'cannot make {self.path("feat", epoch)}: checkpoint {ckpt} is missing',
                  file=sys.stderr)
            return 1
        cmd = [sys.executable, osp.join(TOOLS, 'cache_features.py'), self.config, ckpt,
               '--out', self.path('feat', epoch), '--epoch', str(epoch)]
        options = self.state['cfg_options']
        if options:
            cmd += ['--cfg-options'] + [f'{k}={_option(v)}' for k, v in options.items()]
        return self._child(cmd, log)

    def _valid_features(self, feat_file: str) -> bool:
        if not osp.isfile(feat_file):
            return False
        load_feature_cache(feat_file)  # a corrupt cache is named in the error
        return True

    def _check_pseudo_labels(self, pl_file: str, epoch: int) -> Dict:
        expect = dict(epoch=epoch, feature_sha256=feature_digest(self.path('feat', epoch)))
        return load_pseudo_labels(pl_file, expect)

    def _cluster(self, stage: Dict, log: str) -> int:
        epoch = stage['epoch']
        feat_file, pl_file = self.path('feat', epoch), self.path('pl', epoch)
        if not self._valid_features(feat_file):
            rc = self._cache(epoch, log)
            if rc != 0:
                return rc
        if osp.isfile(pl_file):  # e.g. written by the stage of an interrupted run
            self._check_pseudo_labels(pl_file, epoch)  # corrupt / stale: clear error
            with open(log, 'a') as f:
                f.write(f'reusing {pl_file}\n')
            rc = 0
        else:
            rc = self._run_ssddbc(feat_file, pl_file, log)
        previous = [int(e) for e in self.state.get('clusters', {}) if int(e) < epoch]
        if rc == 0 and previous and not osp.isfile(self.path('pl', max(previous))):
            # the change rate reads the previous refresh's labels: re-made if deleted
            rc = self._cluster(dict(epoch=max(previous)), log)
        if rc == 0:
            self.state.setdefault('clusters', {})[str(epoch)] = self._cluster_stats(epoch)
        return rc

    def _run_ssddbc(self, feat_file: str, pl_file: str, log: str) -> int:
        s = self.ssddbc
        cmd = [sys.executable, '-m', 'cissreg.clustering', feat_file, '--out', pl_file,
               '--num-workers', str(s.get('num_workers', 0)), '--no-progress']
        for key, flag in (('ks', '--ks'), ('percentiles', '--percentiles')):
            if key in s:
                cmd += [flag] + [str(v) for v in s[key]]
        for key in ('backend', 'seed', 'num_known_classes', 'selection', 'holdout',
                    'holdout_classes'):
            if key in s:
                cmd += [f'--{key.replace("_", "-")}', str(s[key])]
        return self._child(cmd, log)

    def _cluster_stats(self, epoch: int) -> Dict:
        """Number of clusters, core ratio, accuracy on the labelled part, change rate."""
        import numpy as np

        from cissreg.evaluation.functional.gcd_accuracy import gcd_cluster_accuracy
        pl = load_pseudo_labels(self.path('pl', epoch))
        cache = load_feature_cache(self.path('feat', epoch))
        labels, known = pl['labels'], cache['labels']
        lab = known >= 0
        stats = dict(num_clusters=int(len(np.unique(labels[labels >= 0]))),
                     core_ratio=float(pl['core_mask'].mean()),
                     labelled_acc=float((labels[lab] == known[lab]).mean()) if lab.any() else None,
                     best_params=pl['best_params'])
        previous = [int(e) for e in self.state.get('clusters', {}) if int(e) < epoch]
        if previous:
            old = load_pseudo_labels(self.path('pl', max(previous)))['labels']
            both = (old >= 0) & (labels >= 0)
            agree = gcd_cluster_accuracy(old[both], labels[both], [])['all'] if both.any() else 0
            stats['change_rate'] = float(1.0 - agree)
        print(f'pseudo labels of epoch {epoch}: {json.dumps(stats)}')
        return stats


def _option(value) -> str:
    """A value as ``--cfg-options`` parses it back (lists without spaces, None as None)."""
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(_option(v) for v in value) + ']'
    return str(value)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    run_dir = args.resume_run_dir or args.run_dir
    pipeline = Pipeline(args.config, run_dir, dict(args.cfg_options or {}),
                        resume=args.resume_run_dir is not None)
    try:
        return pipeline.run()
    except PseudoLabelFileError as err:
        print(f'pipeline stopped: {err}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
