"""Where an :class:`IncrementalLoop` stands, stored in checkpoints and restored on resume."""
import torch
from mmengine.hooks import Hook
from mmengine.runner import find_latest_checkpoint


class IncrementalStateHook(Hook):
    """Writes the loop's position into ``checkpoint['meta']['incremental']`` and, before a
    resumed run loads its checkpoint, hands it back to the loop.

    The position is restored in ``before_run``, i.e. before the runner checks the
    checkpoint against the model and optimizer: the loop first grows the model to the
    checkpoint's task and builds that stage's optimizer, so the checks compare like with
    like. The checkpoint is the one ``Runner.load_or_resume`` picks: ``load_from`` when set,
    else the one ``last_checkpoint`` in the work dir names (a bare ``--resume``).
    Registered by :class:`IncrementalLoop` itself (not by configs).

    Args:
        loop (IncrementalLoop): The loop whose state is saved.
    """

    priority = 'VERY_HIGH'

    def __init__(self, loop) -> None:
        self.loop = loop

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['incremental'] = self.loop.state_dict()

    def before_run(self, runner) -> None:
        if not runner.cfg.get('resume', False):
            return  # load_from alone: weights only, the run starts at task 0
        path = runner.cfg.get('load_from') or find_latest_checkpoint(runner.work_dir)
        if path is None:
            return  # nothing to resume: mmengine starts from scratch
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
        state = checkpoint.get('meta', {}).get('incremental')
        if state is None:
            raise KeyError(f'resuming an IncrementalLoop run needs a checkpoint written by it: '
                           f"{path} has no meta['incremental'] (task, stage, epoch)")
        self.loop.restore(state)
