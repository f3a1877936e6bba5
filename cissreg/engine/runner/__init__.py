from .atomic_checkpoint_hook import AtomicCheckpointHook
from .atomic_io import AtomicLocalBackend, atomic_write_bytes, atomic_write_text
from .ciss_runner import CissRunner
from .resumable_randomness import ResumableRandomnessHook
from .state_dict_check import CheckpointMismatchError, StateDictMismatch, compare_state_dict

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'CheckpointMismatchError', 'CissRunner',
    'ResumableRandomnessHook', 'StateDictMismatch', 'atomic_write_bytes', 'atomic_write_text',
    'compare_state_dict'
]
