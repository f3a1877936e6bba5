# Pseudo-Gumbel at the seed's scale: InternVL2.5-4B-sized parts (InternViT-300M-like vision
# tower at 448 px / 14 px patches, Qwen2.5-3B-like LM with LoRA r=128, 64 caption tokens) on
# RefCOCO-style data (refs json + COCO instances) from a local folder. With local weights set
# the two `pretrained` keys and the tokenizer path (local files only, nothing downloads);
# without them the model still builds on the meta device for
#   python tools/analysis_tools/memory_report.py THIS_CONFIG --meta --word-tokenizer
_base_ = './tiny_shapes.py'

# ---- frequently changed ----
data_root = 'data/refcoco'
weights = 'checkpoints/InternVL2_5-4B'       # local folder of the LM / tokenizer (optional)
img_size = 448
max_caption_len = 64
warmup_epochs = 1
pseudo_gumbel_epochs = 2
batch_size = 2
lr = 4e-5

tokenizer = dict(path=weights, words=None)
model = dict(
    mllm=dict(
        tokenizer=tokenizer,
        vision_encoder=dict(
            pretrained=None,
            config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                        num_attention_heads=16, image_size=img_size, patch_size=14)),
        language_model=dict(
            pretrained=None,
            config=dict(model_type='qwen2', vocab_size=151674, hidden_size=2048,
                        intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                        num_key_value_heads=2, max_position_embeddings=32768,
                        tie_word_embeddings=True)),
        lora=dict(r=128, lora_alpha=256, lora_dropout=0.05, modules_to_save=None,
                  target_modules=['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj',
                                  'up_proj', 'down_proj']),
        projector_hidden=2048),
    grounding_encoder=dict(type='ConvGroundingEncoder', channels=256, num_downs=2),
    mask_decoder=dict(type='PromptMaskDecoder', in_channels=256, channels=256, upsample=4),
    prompt_dim=256,
    max_caption_len=max_caption_len)

pipeline = [
    dict(type='LoadRegionPair'),
    dict(type='ResizeRegionPair', size=img_size),
    dict(type='TokenizeCaption', tokenizer=tokenizer, max_len=max_caption_len),
    dict(type='PackRegionPair')
]
refcoco = dict(type='RefCocoRegionDataset', data_root=data_root, refs_file='refs.json',
               instances_file='instances.json', img_dir='images', pipeline=pipeline,
               _delete_=True)
train_dataloader = dict(batch_size=batch_size, dataset=dict(refcoco, split='train'))
val_dataloader = dict(batch_size=batch_size, dataset=dict(refcoco, split='val'))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=warmup_epochs + pseudo_gumbel_epochs)
optim_wrapper = dict(optimizer=dict(lr=lr))
default_hooks = dict(
    train_mode=dict(switch_epoch=warmup_epochs),
    ema_teacher=dict(momentum=0.999, warmup_iters=100, begin_epoch=warmup_epochs))
