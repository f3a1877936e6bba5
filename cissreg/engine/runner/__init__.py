from .ciss_runner import CissRunner
from .cpu_distributed import close_dist, init_cpu_dist

__all__ = ['CissRunner', 'close_dist', 'init_cpu_dist']
