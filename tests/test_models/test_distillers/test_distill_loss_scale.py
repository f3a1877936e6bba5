"""Distillation and detection terms share one scale: their gradient ratio does not depend on
the batch size or the number of processes (issue 10, bug 1)."""
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.structures import InstanceData
from torch.nn.parallel import DistributedDataParallel

from cissreg.testing.distill_parts import build, samples, write_teacher

DET_TERMS = ('loss_cls', 'loss_bbox', 'loss_dfl')
KD_TERMS = ('loss_cwd', 'loss_kl_cls', 'loss_kl_box')


@pytest.fixture(scope='module')
def teacher(tmp_path_factory):
    return write_teacher(tmp_path_factory.mktemp('teacher'))


def crowded_sample():
    """One 64-px image's sample with 8 large boxes: the sum of its assigned scores exceeds 1,
    so ``max(sum, 1)`` (the loss normaliser) does not clamp for one image (an untrained
    student predicts large boxes: small GT boxes get tiny IoUs and scores)."""
    sample = samples(1)[0]
    corners = torch.tensor([[0.0, 0.0], [4.0, 2.0], [2.0, 6.0], [8.0, 8.0],
                            [6.0, 1.0], [1.0, 9.0], [10.0, 4.0], [3.0, 3.0]])
    sample.gt_instances = InstanceData(bboxes=torch.cat([corners, corners + 52.0], 1),
                                       labels=torch.arange(8) % 6)
    return sample


def gradient_ratio(teacher, batch: int, ddp: bool = False) -> dict:
    """``|grad(distillation)| / |grad(detection)|`` over the student's parameters, and the
    loss values, for one image repeated ``batch`` times (BN statistics, assignment and
    every per-image mean are then those of the single image). Float64 weights: in float32
    the BN gradients of a batch of 1 and of 16 differ by up to 1% (summation order)."""
    distiller = build(teacher).double()  # default terms: CWD 0.05, KL 0.001 (cls and box)
    distiller.train()
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3)).double()
    inputs = image.expand(batch, -1, -1, -1).contiguous()
    data = [crowded_sample()] * batch
    model = DistributedDataParallel(distiller, find_unused_parameters=True) if ddp else distiller
    params = list(distiller.student.parameters())

    def grad_of(keys):
        distiller.zero_grad(set_to_none=True)
        losses = model(inputs, data, mode='loss')
        sum(losses[k] for k in keys).backward()
        grad = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                          for p in params])
        return grad.double(), {k: float(v.detach()) for k, v in losses.items()}

    g_det, losses = grad_of(DET_TERMS)
    g_kd, _ = grad_of(KD_TERMS)
    return dict(ratio=float(g_kd.norm() / g_det.norm()), losses=losses)


def test_ratio_is_independent_of_batch_size_and_terms_share_the_scale(teacher):
    results = {batch: gradient_ratio(teacher, batch) for batch in (1, 4, 16)}
    reference = results[1]
    assert reference['ratio'] > 0
    for batch, result in results.items():
        assert result['ratio'] == pytest.approx(reference['ratio'], rel=1e-5), batch
        # every term is a per-image mean times the images of the batch: divided by the batch
        # size it is the reference's value (detection without a batch factor, batch-mean CWD / KL)
        for key in DET_TERMS + KD_TERMS:
            assert result['losses'][key] / batch == pytest.approx(
                reference['losses'][key], rel=1e-4), (batch, key)


def _ddp_worker(rank: int, world_size: int, init_file: str, teacher, out_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world_size)
    try:
        result = gradient_ratio(teacher, batch=2, ddp=True)
        if rank == 0:
            torch.save(result, out_file)
    finally:
        dist.destroy_process_group()


def test_ratio_is_independent_of_world_size(teacher, tmp_path):
    out_file = str(tmp_path / 'ddp.pt')
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    # fork: the workers inherit the imported modules (spawn re-imports them: 10x slower)
    mp.start_processes(_ddp_worker, args=(2, str(tmp_path / 'pg_init'), teacher, out_file),
                       nprocs=2, start_method='fork')
    two_procs = torch.load(out_file)  # 2 processes x 2 images
    one_proc = gradient_ratio(teacher, batch=2)
    assert two_procs['ratio'] == pytest.approx(one_proc['ratio'], rel=1e-5)
    # under DDP every term is multiplied by the world size too (ultralytics' convention)
    for key in DET_TERMS + KD_TERMS:
        assert two_procs['losses'][key] == pytest.approx(2 * one_proc['losses'][key],
                                                         rel=1e-4), key


def test_batch_mean_scale_leaves_the_terms_as_means(teacher):
    distiller = build(teacher, loss_scale='batch_mean')
    scaled = build(teacher)
    inputs = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    data = samples(1) * 4
    plain_losses = distiller(inputs, data, mode='loss')
    scaled_losses = scaled(inputs, data, mode='loss')
    for key in KD_TERMS:
        torch.testing.assert_close(scaled_losses[key], 4 * plain_losses[key])
    for key in DET_TERMS:
        torch.testing.assert_close(scaled_losses[key], plain_losses[key])
    with pytest.raises(ValueError, match="loss_scale must be one of .* got 'sum'"):
        build(teacher, loss_scale='sum')
