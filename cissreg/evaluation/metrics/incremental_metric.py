"""What :class:`~cissreg.engine.loops.IncrementalLoop` asks of a metric, as a mixin."""
from typing import Dict, List, Optional


class IncrementalMetricMixin:
    """Mixin of metrics that keep a record over the tasks of an incremental run.

    The loop saves :meth:`state_dict` in checkpoints (restored by :meth:`load_state_dict` on
    resume) and writes :meth:`incremental_record` to the results file. The task split comes
    in ``dataset_meta['task_sizes']`` (classes per task), handed like the rest of
    ``dataset_meta`` by the loop and by ``CissRunner`` (from the model's ``task_sizes``).
    """

    def task_sizes_from_meta(self) -> Optional[List[int]]:
        """Classes per task handed in ``dataset_meta``, or None."""
        sizes = (self.dataset_meta or {}).get('task_sizes')
        return None if sizes is None else [int(s) for s in sizes]

    def state_dict(self) -> Dict:
        """What survives a resume, as plain types. Defaults to nothing."""
        return {}

    def load_state_dict(self, state: Dict) -> None:
        """Restore :meth:`state_dict`'s output."""

    def incremental_record(self) -> Dict:
        """The metric's part of the results file. Defaults to nothing."""
        return {}
