from .finite_loss_ddp import FiniteLossDistributedDataParallel

__all__ = ['FiniteLossDistributedDataParallel']
