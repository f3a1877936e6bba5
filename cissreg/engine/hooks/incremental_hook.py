"""The hook events of :class:`~cissreg.engine.loops.IncrementalLoop`, as a base class."""
from mmengine.hooks import Hook


class IncrementalHook(Hook):
    """Base of hooks that act between the tasks and stages of an incremental run.

    ``IncrementalLoop`` calls these events, besides mmengine's, on every registered hook (as
    ``runner.call_hook`` does: hooks without the method are skipped). Subclass this and
    override the ones you need; each is a no-op here. The task split is
    ``runner.train_loop.task_sizes`` (classes per task) and ``runner.train_loop.task_split``.

    Order within a task ``t``: ``model.begin_task``, :meth:`before_train_task`; per stage
    with epochs: ``model.set_stage``, :meth:`before_train_stage` (``runner.train_loop.
    dataloader`` may be replaced here, e.g. by cached features), the optimizer of the stage,
    the epochs, :meth:`after_train_stage`; then :meth:`after_train_task`, before the
    evaluation on the classes seen so far and the task checkpoint.
    """

    def before_train_task(self, runner, task_id: int) -> None:
        """Before the first stage of task ``task_id``, after ``model.begin_task``."""

    def after_train_task(self, runner, task_id: int) -> None:
        """After the last stage of task ``task_id``, before its evaluation and checkpoint."""

    def before_train_stage(self, runner, task_id: int, stage: int) -> None:
        """Before the epochs of ``stage`` (1-based) of task ``task_id``."""

    def after_train_stage(self, runner, task_id: int, stage: int) -> None:
        """After the epochs of ``stage`` (1-based) of task ``task_id``."""
