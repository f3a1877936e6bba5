from .atomic_io import (ATOMIC_LOCAL_BACKEND, AtomicLocalBackend, atomic_write_bytes,
                        atomic_write_text)
from .safe_load import register_checkpoint_safe_globals
from .seeding import derive_seed, seed_all, worker_init_fn
from .setup_env import register_all_modules
from .state_dict_check import (CheckpointMismatchError, StateDictMismatch, compare_state_dict,
                               describe_optimizer_mismatch, ema_weights)

__all__ = [
    'ATOMIC_LOCAL_BACKEND', 'AtomicLocalBackend', 'CheckpointMismatchError', 'StateDictMismatch',
    'atomic_write_bytes', 'atomic_write_text', 'compare_state_dict', 'derive_seed',
    'describe_optimizer_mismatch', 'ema_weights',
    'register_all_modules', 'register_checkpoint_safe_globals', 'seed_all', 'worker_init_fn'
]
