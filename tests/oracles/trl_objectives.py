#!/usr/bin/env python3
"""TRL as the oracle of core/objectives: the loss and the logged metrics of one batch, computed
by the pinned TRL's own trainer code (trl 1.16.0: DPOTrainer._compute_loss,
KTOTrainer._compute_loss, trl.experimental ORPOTrainer/CPOTrainer.get_batch_loss_metrics).

    trl_objectives.py CASES.json OUT.json

CASES.json (written by tests/core/objectives/test_trl_objectives.cpp): {"cases": [{"name", "algorithm"
(dpo|kto|orpo|cpo|simpo), "config" (our objective.* keys), and per-sequence SUMMED completion
log-probs: paired: chosen, rejected, chosen_tokens, rejected_tokens, ref_chosen, ref_rejected;
kto: logps, tokens, ref_logps, desirable, kl_logps, ref_kl_logps}]}.
OUT.json: {"trl": version, "cases": {name: {"loss": x, "metrics": {TRL name: value}}}}.

TRL's trainers take a model and a tokenized batch, not log-probs, so each trainer method runs on
a stand-in `self` (the attributes its __init__ sets from the real TRL config class, built here
from our keys) and a stand-in model whose outputs give exactly the requested per-token log-probs:
  * DPO/KTO read `outputs.log_probs` (TRL's fused LM head): each completion token gets
    logp/tokens, every other position 0;
  * ORPO/CPO compute log-probs and the NLL from `outputs.logits`: a 2-token vocabulary whose
    logits [a, 0] give the label token 0 the log-prob logsigmoid(a) = l for a = l - log(1 - e^l).
The prompt is one token, never a target, so TRL's NLL covers the completion tokens only (ORPO's
NLL covers prompt tokens too in real use; the objective receives completion log-probs only).
Everything is float64 except where TRL itself casts (ORPO's odds ratio in float32).
"""
import json
import math
import sys
import tempfile
from collections import defaultdict
from types import SimpleNamespace

import torch

import trl
from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer
from trl.experimental.cpo import CPOConfig, CPOTrainer
from trl.experimental.orpo import ORPOConfig, ORPOTrainer

DT = torch.float64
OUTDIR = tempfile.mkdtemp(prefix="trl-oracle-")


class Accelerator:
    device = torch.device("cpu")

    @staticmethod
    def gather(x):
        return x

    @staticmethod
    def gather_for_metrics(x):
        return x

    @staticmethod
    def unwrap_model(m):
        return m


def per_token(total, n, width):
    """A row of `width` per-token log-probs: n tokens of total/n, then zeros."""
    row = torch.zeros(width, dtype=DT)
    row[:n] = total / n
    return row


def common_args(cls, **kw):
    return cls(output_dir=OUTDIR, report_to=[], use_cpu=True, **kw)


# ---------------------------------------------------------------------------- DPO
def dpo(case):
    c = case["config"]
    loss_type = [c.get("loss_type", "sigmoid")]
    weights = None
    if c.get("sft_weight", 0) > 0:  # our RPO term: TRL 1.x's loss_type [.., "sft"] (rpo_alpha is gone)
        loss_type.append("sft")
        weights = [1.0, c["sft_weight"]]
    args = common_args(DPOConfig, beta=c["beta"], loss_type=loss_type, loss_weights=weights,
                       label_smoothing=c.get("label_smoothing", 0.0), precompute_ref_log_probs=True)
    B = len(case["chosen"])
    sums = case["chosen"] + case["rejected"]
    ns = [int(n) for n in case["chosen_tokens"] + case["rejected_tokens"]]
    T = 1 + max(ns)
    completion_mask = torch.zeros(2 * B, T, dtype=torch.long)
    log_probs = torch.zeros(2 * B, T - 1, dtype=DT)
    mean_logits = torch.zeros(2 * B, T - 1, dtype=DT)  # logits/*: a row's summed mean logits over its tokens
    logit_sums = case["chosen_logit_sums"] + case["rejected_logit_sums"]
    for i, (s, n) in enumerate(zip(sums, ns)):
        completion_mask[i, 1:1 + n] = 1
        log_probs[i] = per_token(s, n, T - 1)
        mean_logits[i] = per_token(logit_sums[i], n, T - 1)
    log_probs.requires_grad_(True)
    ref_free = c.get("reference_free", False)
    ref_c = torch.zeros(B, dtype=DT) if ref_free else torch.tensor(case["ref_chosen"], dtype=DT)
    ref_r = torch.zeros(B, dtype=DT) if ref_free else torch.tensor(case["ref_rejected"], dtype=DT)
    inputs = {"input_ids": torch.zeros(2 * B, T, dtype=torch.long), "attention_mask": torch.ones(2 * B, T, dtype=torch.long),
              "completion_mask": completion_mask, "ref_chosen_logps": ref_c, "ref_rejected_logps": ref_r}

    def model(**kwargs):
        z = torch.zeros(2 * B, T - 1, dtype=DT)
        return SimpleNamespace(log_probs=log_probs, entropy=z, mean_logits=mean_logits, is_top1=z.bool())

    me = SimpleNamespace(
        model=SimpleNamespace(training=True), accelerator=Accelerator(), args=args, beta=args.beta,
        precompute_ref_logps=args.precompute_ref_log_probs, loss_types=args.loss_type,
        loss_weights=args.loss_weights or [1.0] * len(args.loss_type), ld_alpha=args.ld_alpha,
        f_divergence_type=args.f_divergence_type, f_alpha_divergence_coef=args.f_alpha_divergence_coef,
        label_smoothing=args.label_smoothing, use_weighting=args.use_weighting, aux_loss_enabled=False,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)}, _total_train_tokens=0, _tp_size=1)
    loss = DPOTrainer._compute_loss(me, model, inputs, False)
    return loss, {k: sum(v) / len(v) for k, v in me._metrics["train"].items()}


# ---------------------------------------------------------------------------- KTO
def kto(case):
    c = case["config"]
    args = common_args(KTOConfig, beta=c["beta"], desirable_weight=c.get("desirable_weight", 1.0),
                       undesirable_weight=c.get("undesirable_weight", 1.0), precompute_ref_log_probs=True)
    N = len(case["logps"])
    ns = [int(n) for n in case["tokens"]]
    T = 1 + max(ns)
    M = len(case["kl_logps"])
    if M != N:
        raise ValueError("TRL's KTO pairs one mismatched completion with each example: kl_logps needs N entries")
    completion_mask = torch.zeros(N, T, dtype=torch.long)
    log_probs = torch.zeros(N, T - 1, dtype=DT)
    kl_log_probs = torch.zeros(N, T - 1, dtype=DT)
    mean_logits = torch.zeros(N, T - 1, dtype=DT)
    for i in range(N):
        completion_mask[i, 1:1 + ns[i]] = 1
        log_probs[i] = per_token(case["logps"][i], ns[i], T - 1)
        mean_logits[i] = per_token(case["logit_sums"][i], ns[i], T - 1)
        # The mismatched completion: summed log-prob anywhere in its row (TRL sums the row).
        kl_log_probs[i, 0] = case["kl_logps"][i]
    log_probs.requires_grad_(True)
    batch = {"input_ids": torch.zeros(N, T, dtype=torch.long), "attention_mask": torch.ones(N, T, dtype=torch.long),
             "completion_mask": completion_mask, "label": torch.tensor(case["desirable"], dtype=torch.bool),
             "ref_logps": torch.tensor(case["ref_logps"], dtype=DT),
             "ref_KL_logps": torch.tensor(case["ref_kl_logps"], dtype=DT),
             "KL_input_ids": torch.ones(N, T, dtype=torch.long), "KL_attention_mask": torch.ones(N, T, dtype=torch.long),
             "KL_completion_mask": torch.ones(N, T, dtype=torch.long)}

    def model(input_ids=None, **kwargs):
        z = torch.zeros(N, T - 1, dtype=DT)
        kl = bool((input_ids == 1).all())
        return SimpleNamespace(log_probs=kl_log_probs if kl else log_probs, entropy=z,
                               mean_logits=z if kl else mean_logits, is_top1=z.bool())

    me = SimpleNamespace(
        model=SimpleNamespace(training=True), accelerator=Accelerator(), args=args, beta=args.beta,
        precompute_ref_logps=args.precompute_ref_log_probs, loss_type=args.loss_type,
        desirable_weight=args.desirable_weight, undesirable_weight=args.undesirable_weight,
        calculate_KL=args.loss_type == "kto", aux_loss_enabled=False,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)}, _total_train_tokens=0, _tp_size=1)
    me._compute_kl_logps = lambda m, b: KTOTrainer._compute_kl_logps(me, m, b)
    loss = KTOTrainer._compute_loss(me, model, batch, False)
    return loss, {k: sum(v) / len(v) for k, v in me._metrics["train"].items()}


# ---------------------------------------------------------------------------- ORPO / CPO
def logit_for(l):
    """a with logsigmoid(a) = l (l < 0): the logit of the label token against a 0 logit."""
    return l - math.log(-math.expm1(l))


def paired_batch(case):
    """TRL's tokenized paired batch (chosen_/rejected_ input_ids, attention_mask, labels; a
    one-token prompt) and the logits [2B, L, 2] a model would return for it."""
    B = len(case["chosen"])
    out = {}
    rows = []
    width = 1 + max(int(n) for n in case["chosen_tokens"] + case["rejected_tokens"])
    for side in ("chosen", "rejected"):
        ns = [int(n) for n in case[side + "_tokens"]]
        L = 1 + max(ns)
        ids = torch.zeros(B, L, dtype=torch.long)
        ids[:, 0] = 1  # the prompt token
        mask = torch.zeros(B, L, dtype=torch.long)
        labels = torch.full((B, L), -100, dtype=torch.long)
        for i, n in enumerate(ns):
            mask[i, :1 + n] = 1
            labels[i, 1:1 + n] = 0  # completion tokens are token 0
            rows.append((case[side][i] / n, n))
        out[side + "_input_ids"], out[side + "_attention_mask"], out[side + "_labels"] = ids, mask, labels
    logits = torch.zeros(2 * B, width, 2, dtype=DT)
    for r, (l, n) in enumerate(rows):
        logits[r, :n, 0] = logit_for(l)  # position t predicts token t + 1
    return out, logits.requires_grad_(True)


def run_paired(cls, me, case):
    batch, logits = paired_batch(case)
    me.accelerator = Accelerator()
    me.is_encoder_decoder = False
    me.aux_loss_enabled = False
    me.concatenated_inputs = cls.concatenated_inputs
    me.get_batch_logps = cls.get_batch_logps
    me.concatenated_forward = lambda m, b: cls.concatenated_forward(me, m, b)

    def model(input_ids, attention_mask=None, **kwargs):
        assert input_ids.shape[:2] == logits.shape[:2], (input_ids.shape, logits.shape)
        return SimpleNamespace(logits=logits)

    return model, batch


def orpo(case):
    c = case["config"]
    args = common_args(ORPOConfig, beta=c["beta"])
    me = SimpleNamespace(beta=args.beta, padding_value=0, args=args)
    me.odds_ratio_loss = lambda a, b: ORPOTrainer.odds_ratio_loss(me, a, b)
    model, batch = run_paired(ORPOTrainer, me, case)
    return ORPOTrainer.get_batch_loss_metrics(me, model, batch)


def cpo(case, simpo=False):
    c = case["config"]
    if simpo:  # our SimPO: TRL's CPO with loss_type simpo, cpo_alpha = our sft_weight
        kw = dict(loss_type="simpo", cpo_alpha=c.get("sft_weight", 0.0), simpo_gamma=c.get("gamma", 0.5))
    else:
        kw = dict(loss_type=c.get("loss_type", "sigmoid"), cpo_alpha=c.get("cpo_alpha", 1.0),
                  simpo_gamma=c.get("gamma", 0.5))
    args = common_args(CPOConfig, beta=c["beta"], label_smoothing=c.get("label_smoothing", 0.0), **kw)
    me = SimpleNamespace(beta=args.beta, label_smoothing=args.label_smoothing, loss_type=args.loss_type,
                         cpo_alpha=args.cpo_alpha, simpo_gamma=args.simpo_gamma, alpha=args.alpha,
                         pad_token_id=0, args=args)
    me.cpo_loss = lambda a, b: CPOTrainer.cpo_loss(me, a, b)
    model, batch = run_paired(CPOTrainer, me, case)
    return CPOTrainer.get_batch_loss_metrics(me, model, batch)


def main():
    cases = json.load(open(sys.argv[1]))["cases"]
    out = {}
    for case in cases:
        algo = case["algorithm"]
        fn = {"dpo": dpo, "kto": kto, "orpo": orpo, "cpo": cpo, "simpo": lambda k: cpo(k, simpo=True)}[algo]
        loss, metrics = fn(case)
        out[case["name"]] = {"loss": float(loss.detach()), "metrics": {k: float(v) for k, v in metrics.items()}}
    json.dump({"trl": trl.__version__, "torch": torch.__version__, "cases": out}, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
