#!/usr/bin/env python3
"""Conversations rendered by transformers' own apply_chat_template (the chat-template oracle,
issue #22 3d / #18).

    render_chat_template.py CONVERSATIONS.json OUT.json TOKENIZER_DIR...

Each TOKENIZER_DIR holds tokenizer.json + tokenizer_config.json (../shared/tokenizers/<name>, whose
tokenizer_config.json carries the model's Jinja chat template). CONVERSATIONS.json:
{"conversations": [{"name", "messages": [{"role", "content"}, ...]}]}. OUT.json: {"transformers":
version, "tokenizers": {<dir name>: {"template": the Jinja source (null: none), "renders": {name:
{"generation_prompt": text with add_generation_prompt=True, "plain": text with
add_generation_prompt=False}}}}}, both tokenize=False.
"""
import json
import os
import sys

import transformers
from transformers import AutoTokenizer


def main():
    conv_path, out_path = sys.argv[1:3]
    convs = json.load(open(conv_path))["conversations"]
    out = {}
    for folder in sys.argv[3:]:
        tok = AutoTokenizer.from_pretrained(folder)
        renders = {}
        if tok.chat_template:
            for c in convs:
                renders[c["name"]] = {
                    "generation_prompt": tok.apply_chat_template(c["messages"], tokenize=False,
                                                                 add_generation_prompt=True),
                    "plain": tok.apply_chat_template(c["messages"], tokenize=False, add_generation_prompt=False),
                }
        out[os.path.basename(os.path.normpath(folder))] = {"template": tok.chat_template or None, "renders": renders}
    json.dump({"transformers": transformers.__version__, "tokenizers": out}, open(out_path, "w"), indent=1,
              ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
