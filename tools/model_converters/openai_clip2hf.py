"""Convert an OpenAI CLIP checkpoint (ViT) into a local Hugging Face ``CLIPModel`` folder.

Usage:
    python tools/model_converters/openai_clip2hf.py ViT-B-16.pt data/clip/vit-b-16-hf \
        [--vision-heads N] [--text-heads N] [--bpe bpe_simple_vocab_16e6.txt.gz]

The input is OpenAI's TorchScript ``.pt`` (as ``clip.load`` downloads it) or a plain state dict
in the same layout (e.g. ``open_clip``'s OpenAI-architecture models). The output folder holds
``config.json`` + ``model.safetensors`` and loads with
``CLIPModel.from_pretrained(folder, local_files_only=True)`` or ``model.clip.pretrained=folder``
in a cissreg config. With ``--bpe`` the vocab file is
copied next to them (point ``tokenizer.bpe_path`` at it).
"""
import argparse
import os
import os.path as osp
import shutil

from cissreg.models.clip import (build_clip_config, convert_openai_clip_state_dict,
                                 load_openai_clip_state_dict)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='OpenAI CLIP .pt -> Hugging Face folder')
    parser.add_argument('src', help='OpenAI CLIP checkpoint (.pt, TorchScript or state dict)')
    parser.add_argument('dst', help='output folder')
    parser.add_argument('--vision-heads', type=int, default=None,
                        help='vision attention heads (default: width // 64, as OpenAI)')
    parser.add_argument('--text-heads', type=int, default=None,
                        help='text attention heads (default: width // 64, as OpenAI)')
    parser.add_argument('--bpe', default=None, help='vocab file to copy into the folder')
    return parser.parse_args()


def convert(src: str, dst: str, vision_heads: int = None, text_heads: int = None,
            bpe: str = None) -> str:
    """Write the converted model to ``dst``; returns ``dst``."""
    from transformers import CLIPModel
    state_dict, config = convert_openai_clip_state_dict(
        load_openai_clip_state_dict(src), vision_heads, text_heads)
    model = CLIPModel(build_clip_config(config))
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    missing = [k for k in missing if not k.endswith('position_ids')]
    if missing or unexpected:
        raise KeyError(f'conversion incomplete: missing {missing}, unexpected {unexpected}')
    os.makedirs(dst, exist_ok=True)
    model.save_pretrained(dst)
    if bpe is not None:
        shutil.copy(bpe, osp.join(dst, osp.basename(bpe)))
    return dst


def main() -> None:
    args = parse_args()
    out = convert(args.src, args.dst, args.vision_heads, args.text_heads, args.bpe)
    print(f'saved a transformers CLIPModel to {out}')


if __name__ == '__main__':
    main()
