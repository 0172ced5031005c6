"""peft against PrefStudio's LoRA, for tests/core/model/test_oracle_models.cpp (oracle venv's Python).

    lora_oracle.py DIR

DIR holds what the test wrote:
  model/      the base checkpoint (transformers' save_pretrained, tests/oracles/models_oracle.py)
  reference.json  its input_ids and attention_mask
  adapter/    the adapter PrefStudio saved (adapter_config.json + adapter_model.safetensors)
  merged/     PrefStudio's merge of that adapter into the base, saved as a model directory
  ours.json   PrefStudio's logits with the adapter ("logits_adapter") and merged ("logits_merged")
Checks, each a failure (exit 1) when it does not hold:
  * PeftModel.from_pretrained(base, adapter) loads every adapter tensor (none missing or unexpected)
    and gives PrefStudio's adapter logits within 1e-5 (float32), and those differ from the base's
    by more than 1e-2 (the adapter really acts, so the comparison can fail);
  * merge_and_unload() gives weights equal to PrefStudio's merged file (same names, max |difference|
    per tensor within 1e-6, float32 rounding of W + alpha / r * B A) and PrefStudio's merged logits
    within 1e-5.
"""
import json
import os
import sys
import warnings

import peft
import torch
import transformers
from safetensors.torch import load_file

transformers.utils.logging.disable_progress_bar()
warnings.filterwarnings("ignore", category=FutureWarning)  # transformers 5 deprecations peft still calls

LOGITS_TOL = 1e-5
WEIGHT_TOL = 1e-6


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    root = sys.argv[1]
    with open(os.path.join(root, "reference.json")) as f:
        ref = json.load(f)
    with open(os.path.join(root, "ours.json")) as f:
        ours = json.load(f)
    ids = torch.tensor(ref["input_ids"])
    attention = torch.tensor(ref["attention_mask"])
    valid = attention.bool()  # padded positions attend differently (no mask on our side): not compared

    def logits(model):
        with torch.no_grad():
            return model(input_ids=ids, attention_mask=attention).logits.float()

    def max_diff(a, b):
        return (a - b)[valid].abs().max().item()

    load = lambda: transformers.AutoModelForCausalLM.from_pretrained(
        os.path.join(root, "model"), dtype=torch.float32, attn_implementation="eager").eval()
    base_logits = logits(load())
    ours_adapter = torch.tensor(ours["logits_adapter"])
    ours_merged = torch.tensor(ours["logits_merged"])

    model = peft.PeftModel.from_pretrained(load(), os.path.join(root, "adapter")).eval()
    # The file's tensors against the adapter modules peft built from adapter_config.json.
    saved = load_file(os.path.join(root, "adapter", "adapter_model.safetensors"))
    built = {k.replace(".default", "") for k in model.state_dict() if "lora_" in k}
    if set(saved) != built:
        fail(f"adapter keys differ from peft's: missing {sorted(built - set(saved))[:3]}, "
             f"unexpected {sorted(set(saved) - built)[:3]}")
    adapter_logits = logits(model)
    moved = max_diff(base_logits, ours_adapter)
    d_adapter = max_diff(adapter_logits, ours_adapter)
    print(f"peft {peft.__version__}: {len(saved)} adapter tensors; adapter logits max |difference| "
          f"{d_adapter:.3g} (base vs adapter {moved:.3g})")
    if moved < 1e-2:
        fail("the adapter hardly changes the logits: the comparison would prove nothing")
    if d_adapter > LOGITS_TOL:
        fail(f"peft's logits with the adapter differ from PrefStudio's by {d_adapter:.3g} > {LOGITS_TOL}")

    merged = model.merge_and_unload()
    theirs = {k: v.float() for k, v in merged.state_dict().items()}
    mine = load_file(os.path.join(root, "merged", "model.safetensors"))
    # Tied embeddings are stored once; state_dict lists lm_head.weight as well.
    if getattr(merged.config, "tie_word_embeddings", False):
        theirs.pop("lm_head.weight", None)
    if set(theirs) != set(mine):
        fail(f"merged tensor names differ: missing {sorted(set(theirs) - set(mine))[:3]}, "
             f"unexpected {sorted(set(mine) - set(theirs))[:3]}")
    worst = max(((theirs[k] - mine[k].float()).abs().max().item(), k) for k in theirs)
    merged_logits = logits(merged)
    d_merged = max_diff(merged_logits, ours_merged)
    print(f"merge_and_unload: {len(theirs)} tensors, max |weight difference| {worst[0]:.3g} ({worst[1]}); "
          f"merged logits max |difference| {d_merged:.3g}")
    if worst[0] > WEIGHT_TOL:
        fail(f"merged weight {worst[1]} differs from peft's merge_and_unload by {worst[0]:.3g} > {WEIGHT_TOL}")
    if d_merged > LOGITS_TOL:
        fail(f"merged logits differ from peft's by {d_merged:.3g} > {LOGITS_TOL}")
    print("ok: peft loads PrefStudio's adapter with the same outputs, and its merge equals PrefStudio's")


if __name__ == "__main__":
    main()
