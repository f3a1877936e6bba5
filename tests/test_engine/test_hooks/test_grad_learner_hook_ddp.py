"""GradLearnerHook under DDP on CPU (gloo, 2 processes): the learner is wrapped, gradients
are averaged (both ranks end with the same w), and a rank without trusted pixels joins the
step with a zero gradient instead of hanging."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(rank, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    torch.set_num_threads(1)
    from cissreg.engine.hooks.grad_learner_hook import GradLearnerHook
    torch.manual_seed(rank)  # different init per rank: DDP must broadcast rank 0's
    hook = GradLearnerHook(samples=16, seed=rank)
    gen = torch.Generator().manual_seed(10 + rank)
    logits = torch.randn(2, 4, 5, 5, generator=gen)
    trusted = torch.randint(0, 4, (2, 5, 5), generator=gen)
    hook.ensure_classes(3, logits.device)
    assert hook._ddp is not None
    first = hook.step(logits, trusted)
    if rank == 1:
        trusted = torch.zeros_like(trusted)  # no trusted pixel on this rank
    second = hook.step(logits, trusted)
    out[rank] = ([p.detach().clone() for p in hook.learner.parameters()],
                 first is not None, float(second))
    dist.destroy_process_group()


def test_ddp_learner_in_sync_and_empty_rank_does_not_hang():
    port = 29000 + os.getpid() % 1000
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(port, out), nprocs=2, join=True)
        (w0, f0, s0), (w1, f1, s1) = out[0], out[1]
    assert f0 and f1 and s0 > 0 and s1 == 0.0  # rank 1 stepped with a zero loss
    for a, b in zip(w0, w1):
        assert torch.equal(a, b)
