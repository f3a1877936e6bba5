"""mmengine ``CheckpointHook`` that a kill at any point cannot leave without a resumable state."""
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

from mmengine.dist import is_main_process, master_only
from mmengine.hooks import CheckpointHook

from cissreg.registry import HOOKS
from cissreg.utils.atomic_io import ATOMIC_LOCAL_BACKEND, atomic_write_text, remove_stale_temp_files


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
    * with ``save_best``, the new best checkpoint is complete before the previous one is
      removed (mmengine removes it first, so a kill in between leaves no best checkpoint);
    * at the start of training, temp files left by a killed write are removed, and when the
      run resumes, best files that the resumed state does not record are removed (the resumed
      run repeats the validation that wrote them); each removal is logged.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pointer_pending = False
        self._outdated: List[int] = []

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
        if (self.save_best is not None and runner._resume
                and self.file_backend.isdir(self.out_dir)):
            self._reconcile_best_files(runner)

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
            if previous and previous != path and self._remove(previous):
                runner.logger.info(f'The previous best checkpoint {previous} is removed')
        # as mmengine: re-save the last checkpoint so that it records the new best
        if updated and self.last_ckpt is not None:
            self._save_checkpoint_with_step(runner, step, meta)

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

    def _reconcile_best_files(self, runner) -> None:
        """Remove the best files that the resumed state does not record.

        A kill after a new best file was written but before ``last_checkpoint`` moved past
        that validation leaves a best file the resumed run does not know of; the resumed run
        repeats that validation and writes it again if it is still the best.
        """
        recorded = {self._best_path(key) for key in self.key_indicators}
        step_pattern = re.escape(self.filename_tmpl).replace(r'\{\}', r'\d+')
        for key_indicator in self.key_indicators:
            key = '.+' if key_indicator == 'auto' else re.escape(key_indicator.replace('/', '_'))
            pattern = re.compile(rf'best_{key}_{step_pattern}')
            for name in sorted(self.file_backend.list_dir_or_file(self.out_dir, list_dir=False)):
                path = self.file_backend.join_path(self.out_dir, name)
                if pattern.fullmatch(name) and path not in recorded:
                    self._remove(path)
                    runner.logger.warning(
                        f'Removed best checkpoint {name}: the checkpoint this run resumes from '
                        'does not record it (an earlier run was killed while saving it).')
