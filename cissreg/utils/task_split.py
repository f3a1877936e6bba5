"""Class-incremental task sizes: task ``t`` holds classes ``[start_t, end_t)``.

Plain arithmetic shared by models (prompt pools, heads), data (task subsets) and metrics
(grouped accuracy), so none of them imports another layer for it.
"""
from typing import List, Tuple


def incremental_task_sizes(num_classes: int, init_class: int, increment: int) -> List[int]:
    """Classes per task: ``init_class``, then ``increment`` each (a smaller last remainder).

    Args:
        num_classes (int): Total classes.
        init_class (int): Classes of the first task (may differ from ``increment``: B50-Inc10).
        increment (int): Classes of each later task.

    Returns:
        list[int]: Sizes summing to ``num_classes``.
    """
    if not 0 < init_class <= num_classes:
        raise ValueError(f'init_class must be in [1, num_classes={num_classes}], got '
                         f'{init_class}')
    if increment <= 0 and init_class < num_classes:
        raise ValueError(f'increment must be > 0, got {increment}')
    sizes = [init_class]
    while sum(sizes) < num_classes:
        sizes.append(min(increment, num_classes - sum(sizes)))
    return sizes


def task_class_ranges(num_classes: int, init_class: int,
                      increment: int) -> List[Tuple[int, int]]:
    """``[(start, end), ...]`` class ranges of the tasks (end exclusive)."""
    ranges, start = [], 0
    for size in incremental_task_sizes(num_classes, init_class, increment):
        ranges.append((start, start + size))
        start += size
    return ranges


def range_key(start: int, end: int) -> str:
    """Group key of classes ``[start, end)``: ``'0-9'`` (inclusive, as PyCIL prints it)."""
    return f'{start}-{end - 1}'
