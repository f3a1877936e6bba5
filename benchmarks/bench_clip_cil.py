"""Time a stage-1 CLIP-CIL epoch with and without the frozen-feature cache, and replay sampling.

The work is the stage 1 of a late task of CIFAR-100 B10-Inc10 (task 9: 10 new classes with
prompts training, 90 old classes with frozen prompts, Gaussian replay of
``--samples-per-old-class`` features per old class, text hinge loss on 10 hard pairs), on
``--images`` real images (scikit-learn's digits, resized to the CLIP input size) with a
randomly initialised CLIP of the chosen architecture (``vit-b16``: OpenAI ViT-B/16's shapes,
so the compute equals the real model's; ``tiny``: the digits config's).

* **without cache**: every batch goes through the train pipeline (resize, pack), the data
  preprocessor and the frozen image encoder, then the prompt / replay / hinge step;
* **with cache**: the :class:`FeatureBatchLoader` of :class:`IncrementalLoop` feeds the
  features computed once per task (the one-off feature pass is timed separately);
* **replay**: ``GaussianReplayHook.before_train_epoch`` (sampling and splitting all replay
  features of the epoch, first epoch including the Cholesky factors) as a share of the cached
  epoch (the shorter one, so the larger share).

Both epochs run the same optimisation steps (same model state, same batches order seed) and
the script checks that their losses agree.

Usage:
    python benchmarks/bench_clip_cil.py [--arch vit-b16|tiny] [--images 128] [--batch 32]
        [--threads 2]
"""
import argparse
import copy
import platform
import time
from types import SimpleNamespace

import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader

from cissreg.datasets.cil import DigitsCILDataset
from cissreg.engine.hooks import GaussianReplayHook
from cissreg.engine.loops import FeatureBatchLoader
from cissreg.registry import MODELS

ARCHS = {
    'vit-b16': dict(
        text_config=dict(vocab_size=514, hidden_size=512, intermediate_size=2048,
                         num_hidden_layers=12, num_attention_heads=8,
                         max_position_embeddings=77),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                           num_attention_heads=12, image_size=224, patch_size=16),
        projection_dim=512),
    'tiny': dict(
        text_config=dict(vocab_size=514, hidden_size=64, intermediate_size=256,
                         num_hidden_layers=2, num_attention_heads=2,
                         max_position_embeddings=77),
        vision_config=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                           num_attention_heads=2, image_size=32, patch_size=32),
        projection_dim=64),
}
NUM_CLASSES, INIT, INC, TASK = 100, 10, 10, 9


def bpe_vocab():
    """open_clip's bundled OpenAI vocab when installed (real prompt lengths), else None."""
    try:
        from open_clip.tokenizer import default_bpe
    except ImportError:
        return None
    return default_bpe()


def build_model(arch: str, samples_per_pair: int):
    torch.manual_seed(0)
    bpe = bpe_vocab()
    clip_cfg = copy.deepcopy(ARCHS[arch])
    clip_cfg['text_config']['vocab_size'] = 49408 if bpe else 514
    model = MODELS.build(dict(
        type='CLIPPromptClassifier', clip=dict(config=clip_cfg),
        num_classes=NUM_CLASSES, init_class=INIT, increment=INC,
        tokenizer=dict(type='CLIPTokenizer', bpe_path=bpe),
        prompt_learner=dict(type='PromptLearner', n_ctx=4),
        text_hinge_loss=dict(type='HingeLoss', hard_pair_threshold=-1.0, top_hard_pairs=10,
                             samples_per_pair=samples_per_pair)))
    names = [f'object {i}' for i in range(NUM_CLASSES)]
    dim = ARCHS[arch]['projection_dim']
    feats = torch.randn(NUM_CLASSES * 20, dim, generator=torch.Generator().manual_seed(1))
    model.replay_sampler.update(feats, torch.arange(NUM_CLASSES * 20) % NUM_CLASSES)
    for task in range(TASK + 1):
        model.begin_task(task, dict(class_names=names))
    model.set_stage(1)
    return model


def dataset(arch: str, num_images: int):
    size = ARCHS[arch]['vision_config']['image_size']
    ds = DigitsCILDataset(split='train', pipeline=[
        dict(type='Resize', scale=(size, size), interpolation='bicubic'),
        dict(type='PackCILInputs')])
    # relabel into the 10 classes of task 9 (labels 90..99)
    ds.data_list = [dict(s, gt_label=90 + s['gt_label']) for s in ds.data_list[:num_images]]
    return ds


def run_epoch(model, loader, hook, runner, optim_wrapper) -> float:
    """One stage-1 epoch (replay hook included); returns the summed loss."""
    total = 0.0
    batches = iter(loader)
    # replay draws and hinge samples use the global RNG (a real run reseeds it through
    # ResumableRandomnessHook): the same state in both epochs
    torch.manual_seed(0)
    hook.before_train_epoch(runner)
    for idx, batch in enumerate(batches):
        hook.before_train_iter(runner, batch_idx=idx, data_batch=batch)
        log_vars = model.train_step(batch, optim_wrapper)
        total += float(log_vars['loss'])
    hook.after_train_epoch(runner)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', choices=sorted(ARCHS), default='vit-b16')
    parser.add_argument('--images', type=int, default=128)
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--samples-per-old-class', type=int, default=64)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    init_default_scope('cissreg')

    model = build_model(args.arch, samples_per_pair=8)
    ds = dataset(args.arch, args.images)
    hook = GaussianReplayHook(samples_per_old_class=args.samples_per_old_class)
    image_loader = DataLoader(ds, batch_size=args.batch, shuffle=False, collate_fn=pseudo_collate)

    # once per stage in a real run: frozen prompts' text features, hard pairs, Cholesky
    # factors; done before timing so both epochs are steady-state epochs
    start = time.perf_counter()
    model.train()
    model.text_features()
    model.hard_pairs('text')
    model.replay_sampler.cholesky(torch.arange(TASK * INC))
    t_stage = time.perf_counter() - start
    prompts = model.prompt_learner.pool[TASK].ctx
    initial = prompts.detach().clone()

    def fresh(loader):
        with torch.no_grad():
            prompts.copy_(initial)  # both epochs start from the same prompts
        params = [p for p in model.parameters() if p.requires_grad]
        runner = SimpleNamespace(train_loop=SimpleNamespace(task=TASK, stage=1), model=model,
                                 seed=0, epoch=0, train_dataloader=loader)
        return runner, OptimWrapper(torch.optim.SGD(params, lr=1e-3, momentum=0.9))

    runner, optim_wrapper = fresh(image_loader)
    start = time.perf_counter()
    loss_images = run_epoch(model, image_loader, hook, runner, optim_wrapper)
    t_images = time.perf_counter() - start

    start = time.perf_counter()
    model.eval()
    feats, labels = [], []
    with torch.no_grad():
        for batch in DataLoader(ds, batch_size=64, collate_fn=pseudo_collate):
            data = model.data_preprocessor(batch, False)
            feats.append(model.extract_feat(data['inputs']))
            labels.append(data['labels'])
    feats, labels = torch.cat(feats), torch.cat(labels)
    t_extract = time.perf_counter() - start
    feature_loader = FeatureBatchLoader(feats, labels, args.batch, shuffle=False)
    runner, optim_wrapper = fresh(feature_loader)
    model.train()
    start = time.perf_counter()
    loss_cached = run_epoch(model, feature_loader, hook, runner, optim_wrapper)
    t_cached = time.perf_counter() - start

    runner.epoch = 1
    start = time.perf_counter()
    hook.before_train_epoch(runner)
    t_replay = time.perf_counter() - start
    hook.after_train_epoch(runner)

    n_replay = args.samples_per_old_class * TASK * INC
    per_iter = t_cached / len(feature_loader)
    cifar_epoch = per_iter * 5000 / args.batch
    print(f'machine: {platform.processor() or platform.machine()}, torch '
          f'{torch.__version__}, {args.threads} threads; CLIP {args.arch} (random init, '
          f'{"OpenAI BPE" if bpe_vocab() else "byte-level"} prompts), {args.images} images, '
          f'batch {args.batch}, {len(feature_loader)} iterations, task {TASK} of CIFAR-100 '
          'B10-Inc10')
    print(f'stage-1 epoch without cache: {t_images:8.3f} s')
    print(f'stage-1 epoch with cache:    {t_cached:8.3f} s   speed-up {t_images / t_cached:6.1f}x'
          ' (target >= 5x)')
    print(f'  one-off per task: feature pass {t_extract:.3f} s; per stage: frozen text '
          f'features, hard pairs, Cholesky factors {t_stage:.3f} s')
    print(f'  same losses: {abs(loss_images - loss_cached) < 1e-5 * max(1.0, abs(loss_images))}'
          f' ({loss_images:.5f} vs {loss_cached:.5f})')
    print(f'replay sampling per epoch ({n_replay} features of {TASK * INC} old classes): '
          f'{t_replay * 1e3:.1f} ms = {100 * t_replay / t_cached:.2f} % of this cached epoch, '
          f'{100 * t_replay / cifar_epoch:.2f} % of a cached epoch of a CIFAR-100 task (5000 '
          f'images, {per_iter:.3f} s per iteration measured here) (target < 5 %)')


if __name__ == '__main__':
    main()
