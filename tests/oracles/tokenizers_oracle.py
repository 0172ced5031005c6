"""Token ids from the `tokenizers` library for every real tokenizer, for
tests/core/text/test_oracle_tokenizers.cpp (run with the oracle venv's Python).

    tokenizers_oracle.py ROOT OUT.json

ROOT holds ROOT/<name>/tokenizer.json (the layout of tests/fixtures/tokenizer/fetch_tokenizers.sh;
../shared/tokenizers on machines without npm). For each tokenizer, each hard text is encoded with
add_special_tokens=False (what our HfTokenizer::encode promises; the caller prepends BOS) and the
ids decoded back with skip_special_tokens=False. The texts: tests/fixtures/tokenizer/hard_texts.json,
long_mix.txt, the extra ones below, and per tokenizer one text that writes its own added tokens
(first and last 15 of added_tokens) glued to words, spaced and repeated.
OUT.json: {"tokenizers": version, "cases": {name: [{"name", "text", "ids", "decoded"}, ...]}}.
"""
import json
import os
import sys

import tokenizers

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "tokenizer")

EXTRA = {
    "long_words": "pneumonoultramicroscopicsilicovolcanoconiosis Donaudampfschifffahrtsgesellschaftskapitän "
                  "supercalifragilisticexpialidocious" * 3 + " " + "abcdefghij0123456789" * 40,
    "cjk_run": "人工智能是计算机科学的一个分支它企图了解智能的实质并生产出一种新的能以人类智能相似的方式做出反应的智能机器"
               "日本語の文章には空白がありません。カタカナとひらがなと漢字。한국어문장도띄어쓰기없이길게쓸수있습니다",
    "emoji_run": "🙂🙃😉😊😇🥰😍🤩😘😗☺️😚😙🥲😋😛😜🤪😝🤑🤗🤭🫢🫣🤫🤔🫡 👩🏿‍🔬👨🏻‍🚀🧑🏽‍🌾 🏴‍☠️ 🇺🇳 #️⃣ 1️⃣",
    "whitespace_mix": "\n\n\n   \t\t  \r\n \u00a0\u00a0\u2009\u200a end\t\n" + " " * 17 + "x" + "\t" * 9 + "y\n" * 5,
    "digit_forms": "1234567890123456789012345678901234567890 3.14e-10 -0.000001 1,000,000 ١٢٣٤٥ ۱۲۳ ①②③ １２３ ½ ¾ 10⁻³ x²",
    "combining": "e\u0301 a\u0308 n\u0303 Z\u0351\u0327a\u0315\u0321l\u0360g\u031bo\u0358 क्षत्रिय ไม้โท ﷺ ﬁ ﬀ Ⅻ ㎏",
    "astral": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 𝒜𝓁𝓅𝒽𝒶 𓀀𓁐 𐍈 🀄 \U0010FFFD",
    "controls": "a\u0001b\u007fc\u001bd\u0007 tab\tbell",
    # Characters of Unicode 15.0 (newer than PCRE2 10.42's tables): emoji (So), Kannada (Mc), Kawi and
    # Nag Mundari letters, CJK extension H (Lo), Kaktovik numerals (No).
    "unicode15": "Hi \U0001FAE8 \U0001FA77x \U0001F6DC! \u0C95\u0CF3 \U00011F04\U00011F05 \U0001E4D0\U0001E4D1 "
                 "\U00031350\U00031351 \U0001D2C0\U0001D2C1 12 \U0001FAE8\U0001FAE8.",
    "rtl_mix": "English عربي English עברית 123 ٤٥٦ (parens) [brackets]",
    "code_indent": "class A:\n    def f(self):\n        return {'k': [1, 2, 3]}\n\n\n\n        # deep\n" + "    " * 8 + "pass\n",
}


def specials_text(tok_json):
    added = [t["content"] for t in tok_json.get("added_tokens", [])]
    picked = added[:15] + added[-15:] if len(added) > 30 else added
    parts = []
    for i, t in enumerate(picked):
        parts.append(f"w{i}{t}x {t} {t}{t}\n" if i % 2 else f" {t}  y{t}")
    return "".join(parts)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    root, out = sys.argv[1], sys.argv[2]
    with open(os.path.join(FIXTURES, "hard_texts.json"), encoding="utf-8") as f:
        texts = [(t["name"], t["text"]) for t in json.load(f)["texts"]]
    with open(os.path.join(FIXTURES, "long_mix.txt"), encoding="utf-8") as f:
        texts.append(("long_mix", f.read()))
    texts += list(EXTRA.items())
    cases = {}
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name, "tokenizer.json")
        if not os.path.isfile(path):
            continue
        tok = tokenizers.Tokenizer.from_file(path)
        with open(path, encoding="utf-8") as f:
            own = [("added_tokens", specials_text(json.load(f)))]
        rows = []
        for text_name, text in texts + own:
            ids = tok.encode(text, add_special_tokens=False).ids
            rows.append({"name": text_name, "text": text, "ids": ids,
                         "decoded": tok.decode(ids, skip_special_tokens=False)})
        cases[name] = rows
        print(f"{name}: {len(rows)} texts, {sum(len(r['ids']) for r in rows)} tokens")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"tokenizers": tokenizers.__version__, "cases": cases}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
