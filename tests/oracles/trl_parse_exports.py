#!/usr/bin/env python3
"""Our TRL exports read by TRL's own argument parser (issue #22, 4).

    trl_parse_exports.py EXPORT_DIR

Every committed <case>.trl.yaml of tests/fixtures/export (test_export_config keeps them equal to
what `prefstudio-cli export-config CONFIG --to trl` writes now) is parsed the way TRL's CLI reads
`--config FILE`: TrlParser (TRL's HfArgumentParser) over (ScriptArguments, <Trainer>Config,
ModelConfig, DatasetMixtureConfig), with DPOConfig/KTOConfig for `trl dpo|kto` and
trl.experimental's ORPOConfig/CPOConfig for the ORPO and CPO scripts. Unknown keys fail here
(TRL's scripts pass fail_with_unknown_args=False and would silently drop them: a setting that
never reaches the trainer), and so does a value the config class rejects in __post_init__.
The parsed values of the keys we wrote must read back as written (type and value).
Exit 0 when every export parses; 1 with one line per problem otherwise.
"""
import json
import os
import sys
import warnings

import yaml
from trl import DatasetMixtureConfig, DPOConfig, KTOConfig, ModelConfig, ScriptArguments, TrlParser
from trl.experimental.cpo import CPOConfig
from trl.experimental.orpo import ORPOConfig

CONFIGS = {"dpo": DPOConfig, "kto": KTOConfig, "orpo": ORPOConfig, "cpo": CPOConfig}


def same(got, want):
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want or got == want and type(got) is type(want)
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return float(got) == float(want)
    if hasattr(got, "value"):  # enums (lr_scheduler_type, eval_strategy, ...)
        got = got.value
    if isinstance(got, list) and not isinstance(want, list) and len(got) == 1:  # DPOConfig: loss_type "x" -> ["x"]
        got = got[0]
    if isinstance(want, list) and isinstance(got, (list, tuple)):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    return got == want or str(got) == str(want)


def main():
    export_dir = sys.argv[1]
    with open(os.path.join(export_dir, "cases.json")) as f:
        cases = json.load(f)["cases"]
    problems, parsed = [], 0
    for case in cases:
        want = case.get("trl", {})
        if "error" in want:
            continue
        path = os.path.join(export_dir, case["name"] + ".trl.yaml")
        trainer = want["trainer"]
        with open(path) as f:
            written = yaml.safe_load(f)
        parser = TrlParser((ScriptArguments, CONFIGS[trainer], ModelConfig, DatasetMixtureConfig))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                # bf16 is checked against this machine (no GPU): use_cpu lets the check pass; nothing we wrote sets it.
                objs = parser.parse_args_and_config(["--config", path, "--use_cpu", "true"], fail_with_unknown_args=True)
        except (ValueError, TypeError, SystemExit) as e:  # argparse exits on a bad value
            problems.append(f"{path} ({trainer}): TRL rejects it: {e}")
            continue
        for w in caught:
            if issubclass(w.category, (DeprecationWarning, FutureWarning)) and "config" not in str(w.message).lower():
                continue
            msg = str(w.message)
            if any(k in msg for k in written):  # a warning about a key we wrote
                problems.append(f"{path} ({trainer}): TRL warns: {msg[:300]}")
        for key, value in written.items():
            holders = [o for o in objs if hasattr(o, key)]
            if not holders:
                problems.append(f"{path}: {key} reached no dataclass")
                continue
            got = getattr(holders[0], key)
            if key == "datasets":  # DatasetMixtureConfig turns the dicts into DatasetConfig objects
                got = [{k: getattr(d, k) for k in v} for d, v in zip(got, value)]
            if not same(got, value):
                problems.append(f"{path}: {key} written {value!r}, TRL reads {got!r}")
        parsed += 1
        print(f"ok {os.path.basename(path)}: {trainer}, {len(written)} keys")
    for p in problems:
        print("FAIL", p)
    if parsed == 0:
        print("FAIL no export parsed")
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
