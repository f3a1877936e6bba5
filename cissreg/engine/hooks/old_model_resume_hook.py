"""Rebuild a class-incremental model's frozen old model when resuming in the middle of a step."""
import os.path as osp

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from cissreg.registry import HOOKS
from cissreg.utils.safe_load import safe_torch_load


@HOOKS.register_module()
class OldModelResumeHook(Hook):
    """Load the previous step's weights into the model's old-model snapshot on resume.

    The old model (the frozen copy of the previous step that KD distills from) is not part of
    the model's ``state_dict``: it is the model saved as ``task_{t-1}.pth`` at the end of
    step ``t - 1``. When a run resumes in the middle of step ``t > 0``, the loop's
    ``begin_task`` snapshots a freshly built model; this hook (after the loop's state hook,
    before the runner loads the checkpoint's weights) loads ``task_{t-1}.pth`` from the work
    dir into the snapshot with ``model.load_old_state``. Resuming from a finished step
    (``task_{t}.pth``) needs nothing: the next step snapshots the loaded weights.
    """

    priority = 'HIGH'  # after IncrementalStateHook ('VERY_HIGH') has called begin_task

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner.cfg.get('resume', False):
            return
        state = checkpoint.get('meta', {}).get('incremental')
        if state is None or state.get('task_done') or int(state['task']) == 0:
            return
        step = int(state['task'])
        path = osp.join(runner.work_dir, f'task_{step - 1}.pth')
        if not osp.exists(path):
            raise FileNotFoundError(
                f'resuming in step {step} needs {path} (the end of step {step - 1}) to '
                'rebuild the frozen old model; resume in the work dir that holds it')
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.load_old_state(safe_torch_load(path, map_location='cpu')['state_dict'])
        runner.logger.info(f'OldModelResumeHook: old model of step {step} loaded from {path}')
