#!/usr/bin/env python3
"""Off-policy variant of the demo data (standard library only; not needed by any test).

Reads the generated arithmetic pairs (experiments/data/arith-dpo.jsonl: "12+30=", chosen "42",
rejected a wrong sum) and rewrites every other pair the way preference data often looks when the
chosen answers were written by a stronger model and the rejected ones sampled from the model
being trained: the chosen answer becomes the correct sum followed by a long remark in characters
drawn at random (text this small model can never learn to say), the rejected answer becomes the
correct sum written plainly (what the SFT-warmed model says itself). The other half is kept as
it is, so the warm-up still teaches plain sums.

Usage: experiments/make_offpolicy_data.py [IN] [OUT] [SEED]
"""
import json
import random
import string
import sys


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "experiments/data/arith-dpo.jsonl"
    dst = sys.argv[2] if len(sys.argv) > 2 else "experiments/data/arith-offpolicy.jsonl"
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    alphabet = string.ascii_letters + string.digits + string.punctuation
    out = []
    with open(src, encoding="utf-8") as f:
        for i, line in enumerate(f):
            pair = json.loads(line)
            if i % 2 == 1:
                remark = "".join(rng.choice(alphabet) for _ in range(20))
                pair["rejected"] = pair["chosen"]
                pair["chosen"] = pair["chosen"] + " " + remark
            out.append(pair)
    with open(dst, "w", encoding="utf-8") as f:
        for pair in out:
            f.write(json.dumps(pair) + "\n")
    print("wrote %d pairs (%d off-policy) to %s" % (len(out), len(out) // 2, dst))


if __name__ == "__main__":
    main()
