"""mmengine ``CheckpointHook`` that a crash at any point cannot leave without a resumable state."""
import os.path as osp
from typing import List

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from cissreg.registry import HOOKS
from cissreg.utils.atomic_io import ATOMIC_LOCAL_BACKEND, atomic_write_text


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` with crash-safe writes and rotation (SPEC.md §9).

    Same arguments and behaviour as mmengine's ``CheckpointHook``, except:

    * checkpoints in a local ``out_dir`` are written to a temp file and renamed into place
      (``backend_args`` defaults to the ``cissreg_atomic_local`` file backend);
    * the ``last_checkpoint`` pointer is replaced atomically and only after the checkpoint it
      names is complete;
    * with ``max_keep_ckpts``, outdated checkpoints are deleted after the new one and the
      pointer are in place (mmengine deletes them first, so a crash while saving with
      ``max_keep_ckpts=1`` leaves nothing to resume from).
    """

    def before_train(self, runner) -> None:
        out_dir = str(self.out_dir if self.out_dir is not None else runner.work_dir)
        if self.backend_args is None and self.file_client_args is None and '://' not in out_dir:
            self.backend_args = dict(backend=ATOMIC_LOCAL_BACKEND)
        super().before_train(runner)

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        outdated: List[int] = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
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
        if not is_main_process():
            return
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old_step in outdated:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old_step))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed-style checkpoint directories
                self.file_backend.rmtree(path)
