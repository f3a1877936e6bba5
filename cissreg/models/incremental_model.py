"""What :class:`~cissreg.engine.loops.IncrementalLoop` asks of a model, as a mixin."""
from typing import List, Optional


class IncrementalModelMixin:
    """Mixin of models trained by ``IncrementalLoop`` (put it before ``BaseModel``).

    The loop calls these methods; each default is what a model without that need does.

    Attributes:
        task_sizes (list[int] | None): Classes per task as the model was built for them (a
            model sized at construction, so that a task checkpoint loads without the loop).
            When set, the loop hands it to the task split (a split config without its own
            sizes adopts it) and checks that they agree; ``None`` (default) leaves the split
            to the split config.
    """

    task_sizes: Optional[List[int]] = None

    def begin_task(self, task_id: int, task_info: dict) -> None:
        """Enter task ``task_id``: grow, name or snapshot what the task needs.

        Runs before the task's first epoch. When a run resumes at task ``t`` it runs for
        tasks ``0..t`` in order on the fresh model *before* the checkpoint's weights are
        loaded, so a model that grows per task reaches the saved shapes; keep state that must
        survive a resume (an old-model snapshot) in the ``state_dict``. It runs before the
        per-epoch reseed: draw no random numbers here if a resumed run must match an
        uninterrupted one bit for bit.

        Args:
            task_id (int): Task index.
            task_info (dict): From the task split's ``task_info`` (e.g. ``class_names``,
                ``new_classes``, ``num_seen_classes``, ``task_sizes``).
        """

    def set_stage(self, stage: int) -> None:
        """Choose what trains in ``stage`` (1-based), before its optimizer is built."""

    def runs_stage(self, task_id: int, stage: int) -> bool:
        """Whether ``stage`` runs in task ``task_id`` (a stage that does not run has 0
        epochs). Defaults to True."""
        return True
