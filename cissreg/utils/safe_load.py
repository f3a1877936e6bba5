"""Safe (``weights_only``) checkpoint loading for mmengine 0.10.7 under torch >= 2.6.

Filled in by the engine work; see SPEC.md §1.
"""


def register_checkpoint_safe_globals() -> None:
    """Allow the exact globals mmengine checkpoints need under ``weights_only`` loading."""
