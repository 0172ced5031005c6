#!/usr/bin/env python3
"""Our LLaMA-Factory exports read by LLaMA-Factory's own argument parser (issue #22, 4).

    llamafactory_parse_exports.py EXPORT_DIR

Every committed <case>.llamafactory.yaml of tests/fixtures/export (test_export_config keeps them
equal to what `prefstudio-cli export-config CONFIG --to llamafactory` writes now) goes through
llamafactory.hparams.get_train_args, what `llamafactory-cli train FILE` runs first: its
HfArgumentParser over (ModelArguments, DataArguments, TrainingArguments, FinetuningArguments,
GeneratingArguments) with unknown keys refused, the dataclasses' __post_init__ checks and the
stage checks. The parsed values of the keys we wrote must read back as written. The
<case>.dataset_info.json beside it is then read by LLaMA-Factory's get_dataset_list: the dataset
entry must resolve to our file, ranking flag and columns.

LLaMA-Factory comes from a --no-deps install (tests/oracles/llamafactory-requirements.txt,
packaging/make-llamafactory-site.sh) on PYTHONPATH, with DISABLE_VERSION_CHECK=1 (LLaMA-Factory's
own switch): its pins (transformers<=5.6, trl<=0.24) conflict with the oracle venv's, and its
parser does not use what changed. Exit 0 when every export parses; 1 with one line per problem.
"""
import dataclasses
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import types
import typing

os.environ.setdefault("DISABLE_VERSION_CHECK", "1")

import llamafactory
import yaml
from llamafactory.hparams import get_train_args


def load_dataset_parser():
    """llamafactory.data.parser (dataset_info.json's reader) without llamafactory.data's
    __init__, which imports the multimodal plugins (torchaudio, torchvision: not in the venv)."""
    pkg = types.ModuleType("llamafactory.data")
    pkg.__path__ = [os.path.join(os.path.dirname(llamafactory.__file__), "data")]
    sys.modules.setdefault("llamafactory.data", pkg)
    spec = importlib.util.spec_from_file_location("llamafactory.data.parser", os.path.join(pkg.__path__[0], "parser.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_dataset_list


get_dataset_list = load_dataset_parser()


def same(got, want):
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want or got == want and type(got) is type(want)
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return float(got) == float(want)
    if hasattr(got, "value"):  # enums (lr_scheduler_type, eval_strategy, ...)
        got = got.value
    if isinstance(got, list) and isinstance(want, str):  # lora_target "q_proj,v_proj" -> its list (_split_arg)
        return got == [part.strip() for part in want.split(",")]
    if isinstance(want, list) and isinstance(got, (list, tuple)):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    return got == want or str(got) == str(want)


def literal_choices(obj, key):
    """The choices of a Literal-typed field (pref_loss, stage, ...): parse_dict, which
    `llamafactory-cli train FILE.yaml` uses, does not check them, the command line's argparse does."""
    hints = typing.get_type_hints(type(obj))
    for field in dataclasses.fields(obj):
        if field.name == key:
            hint = hints.get(key)
            args = [hint] + list(typing.get_args(hint))  # Literal[...] or Optional[Literal[...]]
            for a in args:
                if typing.get_origin(a) is typing.Literal:
                    return typing.get_args(a)
    return None


def main():
    export_dir = sys.argv[1]
    with open(os.path.join(export_dir, "cases.json")) as f:
        cases = json.load(f)["cases"]
    problems, parsed = [], 0
    work = tempfile.mkdtemp(prefix="lf-parse-")
    try:
        for case in cases:
            want = case.get("llamafactory", {})
            if "error" in want:
                continue
            name = case["name"]
            before = len(problems)
            path = os.path.join(export_dir, name + ".llamafactory.yaml")
            with open(path) as f:
                written = yaml.safe_load(f)
            args = dict(written)
            # output_dir is checked for leftovers of an earlier run: an empty folder of ours.
            # bf16 is checked against this machine (no GPU): use_cpu lets it pass; we never write it.
            args["output_dir"] = os.path.join(work, name, "out")
            args["use_cpu"] = True
            try:
                objs = get_train_args(args)
            except (ValueError, TypeError, AssertionError, SystemExit) as e:  # __post_init__ asserts too
                problems.append(f"{path}: LLaMA-Factory rejects it: {e}")
                continue
            for key, value in written.items():
                if key == "output_dir":
                    continue
                holders = [o for o in objs if hasattr(o, key)]
                if not holders:
                    problems.append(f"{path}: {key} reached no dataclass")
                    continue
                got = getattr(holders[0], key)
                choices = literal_choices(holders[0], key)
                if choices is not None and value not in choices:
                    problems.append(f"{path}: {key} {value!r} is not one of LLaMA-Factory's {list(choices)}")
                if not same(got, value):
                    problems.append(f"{path}: {key} written {value!r}, LLaMA-Factory reads {got!r}")
            # dataset_info.json as LLaMA-Factory reads it from dataset_dir.
            data_dir = os.path.join(work, name, "data")
            os.makedirs(data_dir)
            shutil.copy(os.path.join(export_dir, name + ".dataset_info.json"), os.path.join(data_dir, "dataset_info.json"))
            with open(os.path.join(data_dir, "dataset_info.json")) as f:
                entry = json.load(f)[written["dataset"]]
            try:
                (attr,) = get_dataset_list([written["dataset"]], data_dir)
            except ValueError as e:
                problems.append(f"{name}.dataset_info.json: LLaMA-Factory rejects it: {e}")
                continue
            if attr.load_from != "file" or attr.dataset_name != entry["file_name"]:
                problems.append(f"{name}.dataset_info.json: read as {attr.load_from} {attr.dataset_name!r}")
            # What the stage's data loader needs: pairs (ranking, chosen/rejected) for dpo, a
            # desirable/undesirable tag for kto.
            if written["stage"] == "dpo" and not (attr.ranking and attr.chosen and attr.rejected):
                problems.append(f"{name}.dataset_info.json: stage dpo needs ranking pairs, read ranking={attr.ranking!r} "
                                f"chosen={attr.chosen!r} rejected={attr.rejected!r}")
            if written["stage"] == "kto" and (attr.ranking or not attr.kto_tag):
                problems.append(f"{name}.dataset_info.json: stage kto needs a kto_tag column and no ranking, read "
                                f"ranking={attr.ranking!r} kto_tag={attr.kto_tag!r}")
            if attr.formatting != entry.get("formatting", "alpaca"):
                problems.append(f"{name}.dataset_info.json: formatting read as {attr.formatting!r}")
            for column, source in entry.get("columns", {}).items():
                if getattr(attr, column, None) != source:
                    problems.append(f"{name}.dataset_info.json: column {column} read as {getattr(attr, column, None)!r}")
            parsed += 1
            if len(problems) == before:
                print(f"ok {os.path.basename(path)}: stage {written['stage']}, {len(written)} keys; dataset {attr.dataset_name}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for p in problems:
        print("FAIL", p)
    if parsed == 0:
        print("FAIL no export parsed")
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
