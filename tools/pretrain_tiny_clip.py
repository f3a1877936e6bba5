"""Pretrain a tiny CLIP contrastively on procedural colour-shape image-caption pairs.

The captions use only the *seen* colour-shape pairs (cissreg.datasets.cil.compositional_shapes);
the held-out pairs are the classes of the CLIP CIL default benchmark. The result is a
Hugging Face folder (``config.json`` + ``model.safetensors``) that the tiny-pretrained configs
of ``configs/clip_cil/`` load, plus
``pretrain_log.json`` (loss curve, zero-shot accuracy on seen and held-out compositions).
A finished folder is reused (the cache); ``--force`` retrains. ``--positives caption``
counts an image and a caption as a pair only when every word of the caption holds for the
image (the default, ``class``: when they name the same colour and shape).

    python tools/pretrain_tiny_clip.py              # -> data/tiny_clip_shapes (~1 CPU-min)
    # the CLIP of the CLIP CIL default (~2.5 CPU-min)
    python tools/pretrain_tiny_clip.py --positives caption --steps 2000 \
        --out data/tiny_clip_shapes_caption_2000steps
"""
import argparse
import json
import os
import os.path as osp
import time

import numpy as np
import torch
import torch.nn.functional as F

from cissreg.datasets.cil.compositional_shapes import (caption, caption_describes,
                                                       composition_names, random_attributes, render)
from cissreg.models.clip import build_clip_model, encode_image, encode_text_ids
from cissreg.registry import MODELS, TASK_UTILS
from cissreg.utils import register_all_modules

TINY_CLIP = dict(
    text_config=dict(vocab_size=514, hidden_size=64, intermediate_size=128,
                     num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=32),
    vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=2, image_size=32, patch_size=8),
    projection_dim=64, logit_scale_init_value=2.6592)
CONTEXT_LENGTH = 32


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='data/tiny_clip_shapes', help='output folder')
    parser.add_argument('--steps', type=int, default=500)
    parser.add_argument('--batch-size', type=int, default=96)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--pool', type=int, default=8000, help='pre-rendered images')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--positives', default='class', choices=('class', 'caption'),
                        help="an image's positive captions: 'class' those naming its colour "
                        "and shape, 'caption' those whose every word holds for it")
    parser.add_argument('--force', action='store_true', help='retrain an existing folder')
    return parser.parse_args()


def positives(meta: list, idx: np.ndarray, texts: list, rule: str) -> torch.Tensor:
    """[B, B] float mask: image ``idx[a]`` and caption ``texts[b]`` (of image ``idx[b]``) are
    a positive pair. ``'class'``: the two images share colour and shape; ``'caption'``: every
    word of the caption holds for the image (``"small red star."`` is not a positive of a
    large red star). The diagonal is always positive."""
    if rule == 'class':
        return torch.tensor([[meta[i][:2] == meta[j][:2] for j in idx] for i in idx]).float()
    return torch.tensor([[caption_describes(t, *meta[i]) for t in texts] for i in idx]).float()


def make_pool(num: int, seed: int, preprocessor):
    """Normalised images [N, 3, H, W], their (colour, shape, attributes) and a caption rng."""
    rng = np.random.RandomState(seed)
    pairs = composition_names(seen=True)
    meta, images = [], []
    for _ in range(num):
        colour, shape = pairs[rng.randint(len(pairs))]
        attrs = random_attributes(rng)
        images.append(torch.from_numpy(render(colour, shape, rng=rng, **attrs).transpose(2, 0, 1)))
        meta.append((colour, shape, attrs))
    with torch.no_grad():
        inputs = preprocessor(dict(inputs=images), False)['inputs']
    return inputs, meta


@torch.no_grad()
def zero_shot(clip, tokenizer, preprocessor, seen: bool, seed: int, per_class: int = 20) -> float:
    """Accuracy (%) of ``"{colour} {shape}."`` prompts on fresh images."""
    pairs = composition_names(seen=seen)
    rng = np.random.RandomState(seed)
    images, labels = [], []
    for label, (colour, shape) in enumerate(pairs):
        for _ in range(per_class):
            img = render(colour, shape, rng=rng, **random_attributes(rng))
            images.append(torch.from_numpy(img.transpose(2, 0, 1)))
            labels.append(label)
    feats = F.normalize(encode_image(clip, preprocessor(dict(inputs=images), False)['inputs']),
                        dim=-1)
    ids = tokenizer([f'{c} {s}.' for c, s in pairs], CONTEXT_LENGTH)
    text = F.normalize(encode_text_ids(clip, ids), dim=-1)
    pred = (feats @ text.t()).argmax(1)
    return float((pred == torch.tensor(labels)).float().mean() * 100)


def main() -> None:
    args = parse_args()
    if osp.isfile(osp.join(args.out, 'model.safetensors')) and not args.force:
        print(f'{args.out} exists (use --force to retrain)')
        return
    torch.manual_seed(args.seed)
    register_all_modules()
    tokenizer = TASK_UTILS.build(dict(type='CLIPTokenizer', bpe_path=None,
                                      context_length=CONTEXT_LENGTH))
    preprocessor = MODELS.build(dict(type='CLIPDataPreprocessor'))
    clip = build_clip_model(config=TINY_CLIP)
    pool, meta = make_pool(args.pool, args.seed, preprocessor)
    rng = np.random.RandomState(args.seed + 1)
    optimizer = torch.optim.AdamW(clip.parameters(), lr=args.lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.steps,
                                                   pct_start=0.1)
    log, start = [], time.time()
    clip.train()
    for step in range(args.steps):
        idx = rng.choice(len(pool), args.batch_size, replace=False)
        texts = [caption(*meta[i], rng) for i in idx]
        image = F.normalize(encode_image(clip, pool[idx]), dim=-1)
        text = F.normalize(encode_text_ids(clip, tokenizer(texts, CONTEXT_LENGTH)), dim=-1)
        logits = clip.logit_scale.exp().clamp(max=100) * image @ text.t()
        match = positives(meta, idx, texts, args.positives)  # [image, caption]
        loss = (F.cross_entropy(logits, match / match.sum(1, keepdim=True)) +
                F.cross_entropy(logits.t(), match.t() / match.t().sum(1, keepdim=True))) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == args.steps - 1:
            seconds = round(time.time() - start, 1)
            log.append(dict(step=step, loss=float(loss.detach()), seconds=seconds))
            print(log[-1], flush=True)
    clip.eval()
    result = dict(steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                  positives=args.positives,
                  seconds=round(time.time() - start, 1),
                  zero_shot_seen=zero_shot(clip, tokenizer, preprocessor, True, 123),
                  zero_shot_held_out=zero_shot(clip, tokenizer, preprocessor, False, 123),
                  chance_held_out=100 / len(composition_names(seen=False)), log=log)
    os.makedirs(args.out, exist_ok=True)
    clip.save_pretrained(args.out)
    with open(osp.join(args.out, 'pretrain_log.json'), 'w') as f:
        json.dump(result, f, indent=2)
    print({k: v for k, v in result.items() if k != 'log'})


if __name__ == '__main__':
    main()
