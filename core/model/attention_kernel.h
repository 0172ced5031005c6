// How attention is computed, without torch: the engine (causal_lm.h) switches on it and the
// memory estimate (memory_estimate.h) counts what each kernel keeps.
#pragma once

namespace ps {

// Eager: our own matmuls and a float32 softmax (every libtorch); autograd keeps the [heads, T, T]
// probabilities. Fused: at::scaled_dot_product_attention (libtorch 2.5 and later: the torch
// wheel's build), which keeps no [heads, T, T] tensor on the CPU (flash attention: the output
// and a float32 log-sum-exp per head and position) nor on CUDA; equal to eager within float32
// rounding.
enum class AttentionKernel { Eager, Fused };
// Fused where this libtorch has it, else eager (defined in causal_lm.cpp).
AttentionKernel default_attention_kernel();
const char* attention_kernel_name(AttentionKernel k);  // "eager" | "fused"

}  // namespace ps
