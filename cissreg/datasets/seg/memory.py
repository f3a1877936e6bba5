"""DKD-M's class-balanced exemplar memory (round robin over shuffled old classes)."""
from typing import List, Sequence, Tuple

import numpy as np


def class_balanced_memory(candidates: Sequence[Tuple[int, Sequence[int]]],
                          classes: Sequence[int], mem_size: int,
                          rng: np.random.Generator) -> List[Tuple[int, List[int]]]:
    """Pick up to ``mem_size`` candidates, one class at a time (DKD / SSUL).

    The candidates and the class order are shuffled; then, round after round, each class in
    turn takes the first remaining candidate whose labels contain it. Stops at
    ``mem_size`` or when a whole round finds nothing.

    Args:
        candidates (Sequence[tuple[int, Sequence[int]]]): ``(image index, labels present)``.
        classes (Sequence[int]): The old classes to balance.
        mem_size (int): Total exemplars.
        rng (np.random.Generator): Shuffling RNG.

    Returns:
        list[tuple[int, list[int]]]: The chosen candidates.
    """
    pool = [(int(i), [int(c) for c in labels]) for i, labels in candidates]
    pool = [pool[j] for j in rng.permutation(len(pool))]
    order = [int(c) for c in rng.permutation(np.asarray(classes, dtype=np.int64))]
    chosen: List[Tuple[int, List[int]]] = []
    while len(chosen) < mem_size:
        found = False
        for cls in order:
            for j, cand in enumerate(pool):
                if cls in cand[1]:
                    chosen.append(pool.pop(j))
                    found = True
                    break
            if len(chosen) >= mem_size:
                break
        if not found:
            break
    return chosen
