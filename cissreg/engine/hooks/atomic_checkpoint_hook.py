"""mmengine ``CheckpointHook`` that a kill at any point cannot leave without a resumable state."""
import inspect
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

from mmengine.dist import is_main_process, master_only
from mmengine.hooks import CheckpointHook
from mmengine.runner import Runner

from cissreg.registry import HOOKS, UnexpectedConfigKeyError
from cissreg.utils.atomic_io import ATOMIC_LOCAL_BACKEND, atomic_write_text, remove_stale_temp_files
from cissreg.utils.safe_load import safe_torch_load


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose every file survives a kill at any instant.

    Same arguments and behaviour as mmengine's ``CheckpointHook``, except:

    * checkpoints in a local ``out_dir`` (epoch / iteration files and best files) are written
      to a temp file and renamed into place (``backend_args`` defaults to the
      ``cissreg_atomic_local`` file backend);
    * the ``last_checkpoint`` pointer is replaced atomically and only after the checkpoint it
      names is complete (with ``save_best``: also after the validation that follows it has
      saved its best checkpoint, so a kill during validation repeats that epoch on resume
      instead of losing its best checkpoint);
    * with ``max_keep_ckpts``, outdated checkpoints are deleted after the new one and the
      pointer are in place (mmengine deletes them first, so a kill while saving with
      ``max_keep_ckpts=1`` leaves nothing to resume from);
    * with ``save_best``, the order is: write the new best checkpoint, re-save the epoch /
      iteration checkpoint that records it, move ``last_checkpoint`` to it, and only then
      remove the previous best (mmengine removes it first, so a kill or a full disk in
      between leaves no best checkpoint);
    * at the start of training, temp files left by a killed write are removed; when the run
      resumes, the complete best files on disk are compared by the score each one records,
      the highest-scoring one is kept (and adopted as the run's best if the resumed state
      does not record it yet) and the others are removed, as are epoch / iteration
      checkpoints older than those ``max_keep_ckpts`` keeps; each removal is logged.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # mmengine keeps unknown keyword arguments for runner.save_checkpoint, which refuses
        # them at the first save (after a whole epoch); name them now
        passed = set(inspect.signature(Runner.save_checkpoint).parameters)
        for key in self.args:
            if key in passed:
                continue
            raise UnexpectedConfigKeyError(HOOKS.unexpected_key_message(type(self), key))
        self._pointer_pending = False
        self._outdated: List[int] = []
        self._outdated_best: List[str] = []

    def before_train(self, runner) -> None:
        out_dir = str(self.out_dir if self.out_dir is not None else runner.work_dir)
        if self.backend_args is None and self.file_client_args is None and '://' not in out_dir:
            self.backend_args = dict(backend=ATOMIC_LOCAL_BACKEND)
        super().before_train(runner)
        if not is_main_process() or '://' in str(self.out_dir):
            return
        for directory in sorted({str(self.out_dir), runner.work_dir}):
            removed = remove_stale_temp_files(directory)
            if removed:
                runner.logger.warning(
                    f'Removed {len(removed)} temp file(s) left by an interrupted checkpoint '
                    f'write in {directory}: {", ".join(removed)}')
        if not runner._resume or not self.file_backend.isdir(self.out_dir):
            return
        if self.save_best is not None:
            self._reconcile_best_files(runner)
        if self.max_keep_ckpts > 0 and self.keep_ckpt_ids:
            self._remove_outdated_files(runner)

    def _remove_outdated_files(self, runner) -> None:
        """Remove checkpoints older than those kept (a run killed while deleting them)."""
        step_pattern = re.compile(
            re.escape(self.filename_tmpl).replace(r'\{\}', r'(\d+)'))
        oldest_kept = min(self.keep_ckpt_ids)
        for name in sorted(self.file_backend.list_dir_or_file(self.out_dir, list_dir=False)):
            match = step_pattern.fullmatch(name)
            if match and int(match.group(1)) < oldest_kept:
                self._remove(self.file_backend.join_path(self.out_dir, name))
                runner.logger.warning(f'Removed outdated checkpoint {name} (max_keep_ckpts='
                                      f'{self.max_keep_ckpts}); an earlier run was stopped '
                                      'before it deleted it.')

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
                self._outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        self._pointer_pending = True
        if not self.save_best:
            self._commit_checkpoint(runner)

    def _commit_checkpoint(self, runner) -> None:
        """Point ``last_checkpoint`` to the newest checkpoint, then delete outdated ones.

        With ``save_best`` this waits until the validation that follows the checkpoint has
        saved its best file (or until training goes on without one), so a kill during that
        validation resumes from the previous checkpoint and repeats it rather than losing it.
        """
        if not self._pointer_pending:
            return
        self._pointer_pending = False
        if not is_main_process():
            return
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        while self._outdated:
            self._remove(self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(self._outdated.pop(0))))
        self._remove_outdated_best(runner)

    def _remove_outdated_best(self, runner) -> None:
        """Remove the best files replaced by a newer best (after the pointer records it)."""
        while self._outdated_best:
            previous = self._outdated_best.pop(0)
            if previous not in self._recorded_best() and self._remove(previous):
                runner.logger.info(f'The previous best checkpoint {previous} is removed')

    def after_val_epoch(self, runner, metrics: Dict) -> None:
        super().after_val_epoch(runner, metrics)
        self._commit_checkpoint(runner)

    def before_train_epoch(self, runner) -> None:
        self._commit_checkpoint(runner)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._commit_checkpoint(runner)

    def after_train(self, runner) -> None:
        self._commit_checkpoint(runner)
        super().after_train(runner)

    @master_only
    def _save_best_checkpoint(self, runner, metrics: Dict) -> None:
        """mmengine's best-checkpoint logic, writing the new best before removing the old."""
        if not self.save_best:
            return
        step = runner.epoch if self.by_epoch else runner.iter
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        if 'auto' in self.key_indicators:
            self._init_rule(self.rules, [list(metrics.keys())[0]])
        updated = False
        for key_indicator, rule in zip(self.key_indicators, self.rules):
            score_key, _ = self._runtime_keys(key_indicator)
            best_score = runner.message_hub.runtime_info.get(score_key, self.init_value_map[rule])
            score = metrics[key_indicator]
            if score is None or not self.is_better_than[key_indicator](score, best_score):
                continue
            updated = True
            previous = self._best_path(key_indicator)
            name = f'best_{key_indicator}_{self.filename_tmpl.format(step)}'.replace('/', '_')
            path = self.file_backend.join_path(self.out_dir, name)
            self._set_best(runner, key_indicator, score, path)
            runner.save_checkpoint(
                self.out_dir,
                filename=name,
                file_client_args=self.file_client_args,
                save_optimizer=False,
                save_param_scheduler=False,
                meta=meta,
                by_epoch=False,
                backend_args=self.backend_args)
            runner.logger.info(f'The best checkpoint with {score:0.4f} {key_indicator} at '
                               f'{step} {"epoch" if self.by_epoch else "iter"} is saved to '
                               f'{name}.')
            if previous and previous != path:
                self._outdated_best.append(previous)
        if not updated:
            return
        # as mmengine: re-save the last checkpoint so that it records the new best; the old
        # best goes once last_checkpoint points to it (a resume from an older checkpoint
        # still finds the best that checkpoint records)
        if self.last_ckpt is not None:
            self._save_checkpoint_with_step(runner, step, meta)
        else:
            self._remove_outdated_best(runner)

    def _runtime_keys(self, key_indicator: str) -> Tuple[str, str]:
        """Message-hub keys of the best score and best path (mmengine's naming)."""
        if len(self.key_indicators) == 1:
            return 'best_score', 'best_ckpt'
        return f'best_score_{key_indicator}', f'best_ckpt_{key_indicator}'

    def _best_path(self, key_indicator: str) -> Optional[str]:
        if len(self.key_indicators) == 1:
            return self.best_ckpt_path
        return self.best_ckpt_path_dict.get(key_indicator)

    def _set_best(self, runner, key_indicator: str, score: float, path: str) -> None:
        score_key, ckpt_key = self._runtime_keys(key_indicator)
        runner.message_hub.update_info(score_key, score)
        runner.message_hub.update_info(ckpt_key, path)
        if len(self.key_indicators) == 1:
            self.best_ckpt_path = path
        else:
            self.best_ckpt_path_dict[key_indicator] = path

    def _remove(self, path: str) -> bool:
        """Remove a checkpoint file (or deepspeed-style directory); True if one existed."""
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):
            self.file_backend.rmtree(path)
        else:
            return False
        return True

    def _recorded_best(self) -> set:
        return {self._best_path(key) for key in self.key_indicators}

    def _reconcile_best_files(self, runner) -> None:
        """Keep the highest-scoring complete best file per key indicator, remove the others.

        The resumed state records one best file (and its score); a run killed after writing a
        newer best but before ``last_checkpoint`` moved leaves a complete best that the
        resumed state does not record, with the score it was saved with in its message hub.
        Best files are written by rename, so every file under its final name is complete; one
        that does not load (or records no score) is not counted as a best and is removed.
        """
        step_pattern = re.escape(self.filename_tmpl).replace(r'\{\}', r'\d+')
        names = sorted(self.file_backend.list_dir_or_file(self.out_dir, list_dir=False))
        for index, key_indicator in enumerate(self.key_indicators):
            key = '.+' if key_indicator == 'auto' else re.escape(key_indicator.replace('/', '_'))
            pattern = re.compile(rf'best_({key})_{step_pattern}')
            score_key, _ = self._runtime_keys(key_indicator)
            recorded = self._best_path(key_indicator)
            scored: List[Tuple[float, str, str]] = []  # (score, path, name in the file name)
            for name in names:
                match = pattern.fullmatch(name)
                if match is None:
                    continue
                path = self.file_backend.join_path(self.out_dir, name)
                score = runner.message_hub.runtime_info.get(score_key) if path == recorded \
                    else None
                if score is None:
                    score = self._saved_score(path, score_key)
                if score is None:
                    self._remove(path)
                    runner.logger.warning(f'Removed best checkpoint {name}: it does not load '
                                          f'or records no {score_key}.')
                    continue
                scored.append((score, path, match.group(1)))
            if not scored:
                continue
            better = self._comparison(index, key_indicator, scored[0][2])
            if better is None:  # the rule cannot be told: keep them all
                continue
            best = scored[0]
            for candidate in scored[1:]:
                if better(candidate[0], best[0]) or (candidate[0] == best[0]
                                                     and candidate[1] == recorded):
                    best = candidate
            if best[1] != recorded:
                self._set_best(runner, key_indicator, best[0], best[1])
                runner.logger.warning(
                    f'Kept best checkpoint {best[1]} ({key_indicator} {best[0]}): it was '
                    'written after the checkpoint this run resumes from, and it scores '
                    'highest of the complete best checkpoints; it is now the run\'s best.')
            for score, path, _ in scored:
                if path != best[1]:
                    self._remove(path)
                    runner.logger.warning(
                        f'Removed best checkpoint {path} ({key_indicator} {score}): '
                        f'{best[1]} scores higher or equal and is the run\'s best.')

    def _saved_score(self, path: str, score_key: str) -> Optional[float]:
        """The best score recorded in the message hub of a best checkpoint, or None."""
        try:
            checkpoint = safe_torch_load(path, map_location='cpu')
            score = checkpoint['message_hub']['runtime_info'][score_key]
            return float(score)
        except Exception:  # noqa: BLE001 (any unreadable file is "not a complete best")
            return None

    def _comparison(self, index: int, key_indicator: str, name_key: str):
        """``is_better(a, b)`` for a key indicator (inferred from the file name for 'auto')."""
        rule = self.rules[index] if index < len(self.rules) else None
        if rule is None:
            scratch = CheckpointHook.__new__(CheckpointHook)
            scratch.is_better_than = {}
            scratch.greater_keys, scratch.less_keys = self.greater_keys, self.less_keys
            try:
                scratch._init_rule([None], [name_key])
            except ValueError:
                return None
            rule = scratch.rules[0]
        return self.rule_map[rule]
