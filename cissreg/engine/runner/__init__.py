from .ciss_runner import CissRunner
from .cpu_distributed import init_cpu_dist

__all__ = ['CissRunner', 'init_cpu_dist']
