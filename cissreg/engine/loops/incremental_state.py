"""Where an :class:`IncrementalLoop` stands, stored in checkpoints and restored on resume."""
from mmengine.hooks import Hook


class IncrementalStateHook(Hook):
    """Writes the loop's position into ``checkpoint['meta']['incremental']`` and, when the
    runner resumes, hands it back to the loop before the weights are loaded.

    Registered by :class:`IncrementalLoop` itself (not by configs).

    Args:
        loop (IncrementalLoop): The loop whose state is saved.
    """

    priority = 'VERY_HIGH'

    def __init__(self, loop) -> None:
        self.loop = loop

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['incremental'] = self.loop.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner.cfg.get('resume', False):
            return  # load_from: weights only, the run starts at task 0
        state = checkpoint.get('meta', {}).get('incremental')
        if state is None:
            raise KeyError('resuming an IncrementalLoop run needs a checkpoint written by it '
                           "(meta['incremental'] with the task, stage and epoch is missing)")
        self.loop.restore(state)
