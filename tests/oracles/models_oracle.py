"""Tiny random Hugging Face checkpoints and transformers' own outputs on them, for
tests/core/model/test_oracle_models.cpp (run with the oracle venv's Python, packaging/make-venv.sh).

    models_oracle.py MODEL_TYPE OUT_DIR [SEED]
    models_oracle.py --reload MODEL_DIR OUT_DIR

The second form loads MODEL_DIR (a model PrefStudio saved from OUT_DIR/model) with
AutoModelForCausalLM and checks that its float32 logits on OUT_DIR/reference.json's input equal the
reference within 1e-5 (exit 1 otherwise): the config.json and weights we write rebuild the model.

MODEL_TYPE is llama, mistral, qwen2, qwen3, gemma3 (Gemma3ForCausalLM) or gemma3_vision
(Gemma3ForConditionalGeneration: a tiny vision tower beside the same kind of language model,
run on text). Writes
  OUT_DIR/model/           save_pretrained of a randomly initialised model from a tiny config
                           (float32 safetensors, transformers' own config.json)
  OUT_DIR/reference.json   input_ids, attention_mask, completion_mask and transformers' outputs:
                           logits_float32 [B, T, V] and token_logps_float32 [B, T] (eager
                           attention, float32), logits_bfloat16 (the same checkpoint loaded with
                           dtype=bfloat16), and the sums of log p(token | prefix) over the
                           completion mask in both dtypes; and greedy generation with
                           transformers' generate (its KV cache, float32): "generate_prompts"
                           (two prompts of different lengths, left-padded together) and
                           "generate_tokens" (the new tokens of each row, no stop token).
The weights are redrawn with a larger spread than transformers' initializer (std 0.02 gives
near-uniform logits, which would hide errors): every matrix N(0, 1 / fan_in), every bias
N(0, 0.15^2), every norm weight 1 + N(0, 0.2^2) (Gemma's norms scale by 1 + w: w ~ N(0, 0.2^2)),
so that each parameter moves the logits.
The configs exercise what each family adds: llama3 rope scaling and grouped-query attention
(llama), a sliding window shorter than the input (mistral), q/k/v biases and tied embeddings
(qwen2), per-head q/k RMSNorm, head_dim != hidden / heads and linear rope scaling (qwen3);
gemma3: a sliding-window layer (window 5 < 12 tokens, its own rope theta) and a full one (linear
rope scaling), query_pre_attn_scalar != head_dim, head_dim != hidden / heads, final logit
soft-capping at a value the logits reach (untied; gemma3_vision: tied, no capping).
"""
import json
import math
import os
import sys

import torch
import transformers

transformers.utils.logging.disable_progress_bar()

VOCAB = 128
COMMON = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
              num_attention_heads=4, hidden_act="silu", max_position_embeddings=64,
              bos_token_id=1, eos_token_id=2, pad_token_id=0)

GEMMA3_TEXT = dict(
    num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6, tie_word_embeddings=True,
    hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=24, sliding_window=5,
    layer_types=["sliding_attention", "full_attention"],
    rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                     "full_attention": {"rope_type": "linear", "rope_theta": 1000000.0, "factor": 2.0}})
GEMMA3_COMMON = {k: v for k, v in COMMON.items() if k != "hidden_act"}  # Gemma's key: hidden_activation

CONFIGS = {
    "llama": (transformers.LlamaConfig, dict(
        num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-5, tie_word_embeddings=False,
        rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0,
                         "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 16})),
    "mistral": (transformers.MistralConfig, dict(
        num_key_value_heads=2, rms_norm_eps=1e-5, tie_word_embeddings=False, sliding_window=5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    "qwen2": (transformers.Qwen2Config, dict(
        num_key_value_heads=1, rms_norm_eps=1e-6, tie_word_embeddings=True,
        use_sliding_window=False, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})),
    "qwen3": (transformers.Qwen3Config, dict(
        num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6, tie_word_embeddings=False,
        attention_bias=False, use_sliding_window=False,
        rope_parameters={"rope_type": "linear", "rope_theta": 1000000.0, "factor": 2.0})),
    "gemma3": (transformers.Gemma3TextConfig, dict(GEMMA3_TEXT, tie_word_embeddings=False, final_logit_softcapping=4.0)),
}


def make_config(kind):
    if kind == "gemma3_vision":
        # Gemma3ForConditionalGeneration never soft-caps; tied by its own tie_word_embeddings.
        vision = dict(model_type="siglip_vision_model", hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, image_size=28, patch_size=7)
        return transformers.Gemma3Config(text_config=dict(GEMMA3_COMMON, **GEMMA3_TEXT), vision_config=vision,
                                         mm_tokens_per_image=4, tie_word_embeddings=True)
    cls, extra = CONFIGS[kind]
    return cls(**(GEMMA3_COMMON if kind == "gemma3" else COMMON), **extra)


def model_class(kind):
    if kind == "gemma3_vision":
        return transformers.Gemma3ForConditionalGeneration
    return transformers.AutoModelForCausalLM

# Three rows of 12 tokens; the third is right-padded (pad id 0) after 8 tokens, as our batches are.
T = 12
PROMPT = 4  # completion tokens start here


def inputs(gen):
    ids = torch.randint(3, VOCAB, (3, T), generator=gen)
    mask = torch.zeros(3, T, dtype=torch.long)
    mask[:, PROMPT:] = 1
    ids[2, 8:] = 0
    mask[2, 8:] = 0
    attention = torch.ones(3, T, dtype=torch.long)
    attention[2, 8:] = 0
    return ids, mask, attention


def randomise(model, gen):
    with torch.no_grad():
        gemma = model.config.model_type.startswith("gemma3")
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_((0 if gemma else 1) + 0.2 * torch.randn(p.shape, generator=gen))
            elif gemma and "embed_tokens" in name:
                # Scaled by sqrt(hidden) in the forward; a quarter of that keeps the residual from
                # being the token's own embedding alone (a tied head would then repeat the last token).
                p.copy_(0.25 * torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=gen))


def outputs(model, ids, mask, attention):
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=attention).logits.float()
    logps = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
    token_logps = torch.cat([torch.zeros(ids.shape[0], 1), logps], dim=1)  # t predicted by t-1
    return logits, token_logps, (token_logps * mask).sum(1)


def generate(model, gen):
    """Greedy generation, two left-padded prompts (6 and 3 tokens), 14 new tokens each: prompt
    plus generation run well past a sliding window of 5."""
    lengths, new = (6, 3), 14
    prompts = [torch.randint(3, VOCAB, (n,), generator=gen).tolist() for n in lengths]
    width = max(lengths)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    model.generation_config.eos_token_id = None  # no stop token: every row makes `new` tokens
    model.generation_config.pad_token_id = 0
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=attention, max_new_tokens=new, min_new_tokens=0,
                             do_sample=False, eos_token_id=None, pad_token_id=0)
    return prompts, out[:, width:].tolist()


def reload(model_dir, out):
    with open(os.path.join(out, "reference.json")) as f:
        ref = json.load(f)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32,
                                                              attn_implementation="eager").eval()
    ids, attention = torch.tensor(ref["input_ids"]), torch.tensor(ref["attention_mask"])
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=attention).logits.float()
    diff = ((logits - torch.tensor(ref["logits_float32"])).abs().amax(-1) * attention).max().item()
    print(f"reloaded {type(model).__name__} ({model.config.model_type}): max |logit difference| {diff:.3g}")
    sys.exit(0 if diff <= 1e-5 else 1)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--reload":
        reload(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) not in (3, 4) or (sys.argv[1] not in CONFIGS and sys.argv[1] != "gemma3_vision"):
        print(__doc__)
        sys.exit(2)
    kind, out = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) == 4 else 0
    config = make_config(kind)
    cls = model_class(kind)
    torch.manual_seed(seed)
    if cls is transformers.AutoModelForCausalLM:
        model = cls.from_config(config, attn_implementation="eager", dtype=torch.float32)
    else:
        config._attn_implementation = "eager"
        model = cls(config).to(torch.float32)
    gen = torch.Generator().manual_seed(1000 + seed)
    randomise(model, gen)
    model.eval()
    model_dir = os.path.join(out, "model")
    model.save_pretrained(model_dir)
    ids, mask, attention = inputs(gen)
    # The reference is the saved checkpoint as transformers loads it, not the object in memory.
    f32 = cls.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    logits, token_logps, seq = outputs(f32, ids, mask, attention)
    prompts, generated = generate(f32, gen)
    bf16 = cls.from_pretrained(model_dir, dtype=torch.bfloat16, attn_implementation="eager").eval()
    logits_bf, _, seq_bf = outputs(bf16, ids, mask, attention)
    ref = {
        "transformers": transformers.__version__, "torch": torch.__version__, "model_type": kind,
        "seed": seed, "input_ids": ids.tolist(), "completion_mask": mask.tolist(),
        "attention_mask": attention.tolist(),
        "logits_float32": logits.tolist(), "token_logps_float32": token_logps.tolist(),
        "seq_logps_float32": seq.tolist(), "logits_bfloat16": logits_bf.tolist(),
        "seq_logps_bfloat16": seq_bf.tolist(),
        "generate_prompts": prompts, "generate_tokens": generated,
    }
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f)
    print(f"{kind}: transformers {transformers.__version__}, max |logit| {logits.abs().max():.3g}, "
          f"bfloat16 vs float32 max |logit difference| {(logits_bf - logits).abs().max():.3g}")


if __name__ == "__main__":
    main()
