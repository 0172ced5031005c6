#!/usr/bin/env python3
"""One DPO training step in plain PyTorch: the Python side of tests/bench/bench_dpo_step.cpp.

Policy forward on the chosen and rejected rows (one batch), per-sequence log-probs of the
completion tokens, the DPO sigmoid loss against cached reference log-probs, backward and an
AdamW step: what TRL's DPOTrainer does per step with precompute_ref_log_probs. The model is
transformers' Qwen2ForCausalLM when transformers is importable, else the equivalent module
below (RMSNorm, rotary positions, grouped-query attention, SwiGLU, tied embeddings, eager
attention with a float32 softmax, as transformers' eager Qwen2 attention).

Prints one JSON object: tokens per second, seconds per step, the model FLOPs per step and the
measured matmul peak of the device in FLOP/s.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = a.heads, a.kv_heads, a.head_dim
        self.q_proj = nn.Linear(a.hidden, a.heads * a.head_dim, bias=True)
        self.k_proj = nn.Linear(a.hidden, a.kv_heads * a.head_dim, bias=True)
        self.v_proj = nn.Linear(a.hidden, a.kv_heads * a.head_dim, bias=True)
        self.o_proj = nn.Linear(a.heads * a.head_dim, a.hidden, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.heads // self.kv_heads
        if rep > 1:  # transformers' repeat_kv
            k = k[:, :, None].expand(b, self.kv_heads, rep, t, self.head_dim).reshape(b, self.heads, t, self.head_dim)
            v = v[:, :, None].expand(b, self.kv_heads, rep, t, self.head_dim).reshape(b, self.heads, t, self.head_dim)
        w = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim) + mask
        w = F.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        out = torch.matmul(w, v).transpose(1, 2).reshape(b, t, -1)
        return self.o_proj(out)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.input_layernorm = RMSNorm(a.hidden, 1e-6)
        self.self_attn = Attention(a)
        self.post_attention_layernorm = RMSNorm(a.hidden, 1e-6)
        self.gate_proj = nn.Linear(a.hidden, a.intermediate, bias=False)
        self.up_proj = nn.Linear(a.hidden, a.intermediate, bias=False)
        self.down_proj = nn.Linear(a.intermediate, a.hidden, bias=False)

    def forward(self, x, cos, sin, mask):
        h = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        y = self.post_attention_layernorm(h)
        return h + self.down_proj(F.silu(self.gate_proj(y)) * self.up_proj(y))


class CausalLM(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed_tokens = nn.Embedding(a.vocab, a.hidden)
        self.layers = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.hidden, 1e-6)
        self.head_dim = a.head_dim
        self.register_buffer("inv_freq", 1.0 / (a.rope_theta ** (torch.arange(0, a.head_dim, 2).float() / a.head_dim)),
                             persistent=False)

    def forward(self, ids):
        t = ids.shape[1]
        h = self.embed_tokens(ids)
        freqs = torch.outer(torch.arange(t, device=ids.device, dtype=torch.float32), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(h.dtype), emb.sin().to(h.dtype)
        mask = torch.full((t, t), float("-inf"), device=ids.device).triu(1).to(h.dtype)
        for layer in self.layers:
            h = layer(h, cos, sin, mask)
        return torch.matmul(self.norm(h), self.embed_tokens.weight.t())


def build_model(a, device, dtype):
    try:
        from transformers import Qwen2Config, Qwen2ForCausalLM
        cfg = Qwen2Config(vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.intermediate,
                          num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
                          rope_theta=a.rope_theta, tie_word_embeddings=True, max_position_embeddings=max(2048, a.length),
                          attn_implementation="sdpa" if hasattr(F, "scaled_dot_product_attention") else "eager")
        model = Qwen2ForCausalLM(cfg).to(device=device, dtype=dtype)
        return model, "transformers Qwen2ForCausalLM (%s attention)" % cfg._attn_implementation, lambda ids: model(ids).logits
    except ImportError:
        model = CausalLM(a).to(device=device, dtype=dtype)
        return model, "plain PyTorch module (transformers not installed)", model


def selective_log_softmax(logits, index):
    # TRL's selective_log_softmax for float32/float64: gathered logit minus logsumexp, row by row.
    gathered = torch.gather(logits, dim=-1, index=index.unsqueeze(-1)).squeeze(-1)
    lse = torch.stack([torch.logsumexp(row, dim=-1) for row in logits])
    return gathered - lse


def completion_logps(logits, ids, mask):
    logits = logits[:, :-1].float()
    labels = ids[:, 1:]
    m = mask[:, 1:]
    return (selective_log_softmax(logits, labels) * m).sum(-1)


def matmul_peak(device, dtype, n, reps=5):
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.matmul(a, b)
    sync(device)
    now = clock(device)
    t0 = now()
    for _ in range(reps):
        torch.matmul(a, b)
    sync(device)
    return 2.0 * n ** 3 * reps / (now() - t0)


def clock(device):
    # CPU: process CPU time (other processes on a shared machine steal wall time, not CPU time;
    # with one compute thread both agree on an idle machine). GPU: wall time after a sync.
    return time.process_time if device.type == "cpu" else time.perf_counter


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--intermediate", type=int, required=True)
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--kv-heads", type=int, required=True)
    p.add_argument("--head-dim", type=int, required=True)
    p.add_argument("--rope-theta", type=float, default=1000000.0)
    p.add_argument("--batch", type=int, required=True, help="pairs per step (2 x batch rows)")
    p.add_argument("--length", type=int, required=True)
    p.add_argument("--steps", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--matmul-size", type=int, default=2048)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    device = torch.device(a.device)
    dtype = getattr(torch, a.dtype)
    model, kind, forward = build_model(a, device, dtype)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0)
    rows = 2 * a.batch
    ids = torch.randint(a.vocab, (rows, a.length), device=device)
    mask = torch.zeros(rows, a.length, device=device)
    mask[:, a.length // 2:] = 1.0
    ref = torch.randn(rows, device=device) - 50.0
    beta = 0.1

    def step():
        opt.zero_grad(set_to_none=True)
        logps = completion_logps(forward(ids), ids, mask)
        pc, pr = logps[:a.batch], logps[a.batch:]
        h = (pc - pr) - (ref[:a.batch] - ref[a.batch:])
        loss = -F.logsigmoid(beta * h).mean()
        loss.backward()
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    sync(device)
    times = []  # the median step: other processes on a shared machine stretch single steps
    now = clock(device)
    for _ in range(a.steps):
        t0 = now()
        step()
        sync(device)
        times.append(now() - t0)
    dt = sorted(times)[len(times) // 2]
    tokens = rows * a.length
    print(json.dumps({"model": kind, "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "seconds_per_step": dt, "tokens_per_second": tokens / dt,
                      "matmul_peak_flops": matmul_peak(device, dtype, a.matmul_size)}))


if __name__ == "__main__":
    main()
