#!/usr/bin/env python3
"""Fixtures for our Jinja interpreter (core/text/jinja_template.h, issue #18), rendered by jinja2
exactly as transformers renders chat templates (its own _compile_jinja_template environment:
ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, transformers' tojson,
raise_exception, strftime_now, namespace; the variables of apply_chat_template).

    render_jinja_fixtures.py TOKENIZERS_DIR OUT.json

1. Every tokenizer under TOKENIZERS_DIR with a chat template (tokenizer_config.json
   "chat_template": a string, or a list of {name, template} whose "default" is used; or a
   chat_template.jinja beside it) renders every conversation below, with and without the
   generation prompt. Stored: the template's sha256 (the test reads the template itself from the
   tokenizer files), the special tokens handed to it, and per render the text or jinja2's error.
   And TRL's own split of preference pairs (trl.data_utils.apply_chat_template) per template.
   Each render's token ids ("ids") by HF `tokenizers` from the folder's tokenizer.json, special
   tokens not added (the text carries the template's own), as our tokenizer must give them.
2. Language cases: small templates with their context and jinja2's output or error.
Run with the oracle venv (jinja2 and transformers in it).
"""
import hashlib
import json
import os
import re
import sys

import jinja2
import tokenizers
import transformers
import trl
from transformers import AutoTokenizer
from transformers.utils.chat_template_utils import (_compile_jinja_template, _normalize_chat_messages,
                                                   render_jinja_template)

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city, now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city"},
                                                   "unit": {"type": "string", "enum": ["C", "F"]}},
                   "required": ["city"]}}}]

CONVERSATIONS = [
    {"name": "single", "messages": [{"role": "user", "content": "What is 2+2?"}]},
    {"name": "system", "messages": [{"role": "system", "content": "You are terse."},
                                    {"role": "user", "content": "What is 2+2?"}]},
    {"name": "answered", "messages": [{"role": "user", "content": "What is 2+2?"},
                                      {"role": "assistant", "content": "4"}]},
    {"name": "system_answered", "messages": [{"role": "system", "content": "You are terse."},
                                             {"role": "user", "content": "What is 2+2?"},
                                             {"role": "assistant", "content": "4"}]},
    {"name": "multi_turn", "messages": [{"role": "user", "content": "Hi!"},
                                        {"role": "assistant", "content": "Hello. How can I help?"},
                                        {"role": "user", "content": "Name a prime.\nJust one."},
                                        {"role": "assistant", "content": "7"}]},
    {"name": "system_multi_turn", "messages": [{"role": "system", "content": "Answer in French.\n\nBe kind."},
                                               {"role": "user", "content": "Hi!"},
                                               {"role": "assistant", "content": "Bonjour !"},
                                               {"role": "user", "content": "Thanks"}]},
    {"name": "unicode_spaces", "messages": [{"role": "user", "content": "  héllo wörld 🤖 — 日本語 \u00a0\n"},
                                            {"role": "assistant", "content": " Ça va? 👍 \t"}]},
    {"name": "think", "messages": [{"role": "user", "content": "2+2?"},
                                   {"role": "assistant", "content": "<think>\nAdd them.\n</think>\n\n4"}]},
    {"name": "reasoning_field", "messages": [{"role": "user", "content": "2+2?"},
                                             {"role": "assistant", "content": "4", "reasoning_content": "Add."},
                                             {"role": "user", "content": "3+3?"}]},
    {"name": "enable_thinking_false", "extra": {"enable_thinking": False},
     "messages": [{"role": "user", "content": "2+2?"}]},
    {"name": "tools_dict_args", "tools": TOOLS, "messages": [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}}]},
        {"role": "tool", "content": "{\"temp\": 21.5}"},
        {"role": "tool", "content": "sunny"},
        {"role": "assistant", "content": "21.5 °C and sunny."}]},
    {"name": "tools_string_args", "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}},
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Bergen\"}"}}]},
        {"role": "tool", "content": "-3"},
        {"role": "assistant", "content": "Cold."}]},
    {"name": "not_alternating", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
]


def load_template(folder):
    path = os.path.join(folder, "chat_template.jinja")
    if os.path.exists(path):
        return open(path, encoding="utf-8").read()
    cfg = json.load(open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8"))
    t = cfg.get("chat_template")
    if isinstance(t, list):
        t = {e["name"]: e["template"] for e in t}.get("default")
    return t


# Preference pairs split by TRL itself (trl.data_utils.apply_chat_template): the prompt, and
# each answer as the text after it.
PAIRS = [
    {"name": "single", "prompt": [{"role": "user", "content": "What is 2+2?"}],
     "chosen": [{"role": "assistant", "content": "4"}], "rejected": [{"role": "assistant", "content": "5"}]},
    {"name": "system", "prompt": [{"role": "system", "content": "You are terse."},
                                  {"role": "user", "content": "What is 2+2?"}],
     "chosen": [{"role": "assistant", "content": " Four. "}],
     "rejected": [{"role": "assistant", "content": "<think>\nHm.\n</think>\n\nFive"}]},
    {"name": "multi_turn", "prompt": [{"role": "user", "content": "Hi!"},
                                      {"role": "assistant", "content": "Hello."},
                                      {"role": "user", "content": "Name a prime, 日本語 🤖"}],
     "chosen": [{"role": "assistant", "content": "7 ✓"}], "rejected": [{"role": "assistant", "content": "8"}]},
    # A prompt that ends with the start of the answer: TRL continues it (continue_final_message).
    {"name": "continue_final", "prompt": [{"role": "user", "content": "Finish: the sky is"},
                                          {"role": "assistant", "content": "The sky is "}],
     "chosen": [{"role": "assistant", "content": "blue."}], "rejected": [{"role": "assistant", "content": "green."}]},
]


def trl_splits(folder):
    from trl.data_utils import apply_chat_template
    tok = AutoTokenizer.from_pretrained(folder)
    raw = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    out = []
    for p in PAIRS:
        example = {k: p[k] for k in ("prompt", "chosen", "rejected")}
        try:
            r = apply_chat_template(example, tok)
            entry = {"pair": p["name"], "prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]}
            # Each part's ids by HF tokenizers, apart and without added special tokens (as our
            # pipeline tokenizes a split; the text carries the template's own special tokens).
            for k in ("prompt", "chosen", "rejected"):
                entry[k + "_ids"] = raw.encode(r[k], add_special_tokens=False).ids
            out.append(entry)
        except Exception as e:  # a template that refuses the conversation
            out.append({"pair": p["name"], "error": str(e)})
    return out


def render_case(template, context):
    try:
        return {"output": _compile_jinja_template(template).render(**context)}
    except jinja2.TemplateSyntaxError as e:
        return {"error": {"type": "syntax", "message": e.message, "line": e.lineno}}
    except jinja2.TemplateError as e:
        return {"error": {"type": type(e).__name__, "message": str(e)}}
    except Exception as e:  # Python errors inside the sandbox (TypeError, ...)
        return {"error": {"type": type(e).__name__, "message": str(e)}}


def template_renders(folder):
    template = load_template(folder)
    if not template:
        return None
    tok = AutoTokenizer.from_pretrained(folder)
    special = {k: v for k, v in tok.special_tokens_map.items() if isinstance(v, str)}
    raw = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    renders = []
    for c in CONVERSATIONS:
        for gen in (False, True):
            kwargs = {**special, **c.get("extra", {})}
            entry = {"conversation": c["name"], "add_generation_prompt": gen}
            try:
                # apply_chat_template's own steps: messages normalised (keys whose value is None
                # dropped), then render_jinja_template with the special tokens and extra kwargs.
                out = render_jinja_template(conversations=[_normalize_chat_messages(c["messages"])], tools=c.get("tools"),
                                            chat_template=template, add_generation_prompt=gen, **kwargs)[0][0]
                entry["output"] = out
                # The same text as apply_chat_template itself gives.
                full = tok.apply_chat_template(c["messages"], tools=c.get("tools"), tokenize=False,
                                               add_generation_prompt=gen, **c.get("extra", {}))
                assert full == out, (folder, c["name"], gen, full, out)
                entry["ids"] = raw.encode(out, add_special_tokens=False).ids
            except jinja2.TemplateError as e:
                entry["error"] = {"type": type(e).__name__, "message": str(e)}
            except (TypeError, ValueError) as e:
                entry["error"] = {"type": type(e).__name__, "message": str(e)}
            renders.append(entry)
    return {"sha256": hashlib.sha256(template.encode("utf-8")).hexdigest(), "special_tokens": special,
            "renders": renders}


MSGS = [{"role": "system", "content": "S"}, {"role": "user", "content": " Hi "},
        {"role": "assistant", "content": "Yo"}]

# (name, template, context)
CASES = [
    ("text", "hello world", {}),
    ("var", "{{ x }}|{{ y }}|{{ z }}|{{ n }}|{{ f }}|{{ b }}", {"x": "a", "y": 3, "z": None, "n": -7, "f": 2.5, "b": True}),
    ("undefined_renders_empty", "[{{ nope }}]", {}),
    ("undefined_tests", "{{ nope is defined }} {{ nope is undefined }} {{ nope is none }} {{ not nope }}", {}),
    ("undefined_default", "{{ nope | default('d') }} {{ '' | default('e', true) }} {{ nope | d('x') }}", {}),
    ("undefined_iterates_empty", "{% for x in nope %}X{% else %}empty{% endfor %}", {}),
    ("undefined_length", "{{ nope | length }}", {}),
    ("undefined_attribute_error", "{{ nope.attr }}", {}),
    ("missing_key_is_undefined", "{{ d.missing is defined }}{{ d['missing'] }}|{{ d.k }}", {"d": {"k": 1}}),
    ("comment", "a{# hidden #}b", {}),
    ("ws_minus", "a  {{- 'b' -}}  c\n  {%- if true -%}  d  {%- endif -%}  e", {}),
    ("trim_blocks", "{% if true %}\nyes\n{% endif %}\nafter", {}),
    ("lstrip_blocks", "<ul>\n    {% for i in [1,2] %}\n    <li>{{ i }}</li>\n    {% endfor %}\n</ul>", {}),
    ("lstrip_not_vars", "  {{ 'v' }}\n  {# c #}\nend", {}),
    ("plus_disables_lstrip", "x\n    {%+ if true %}y{% endif %}", {}),
    ("trailing_newline_dropped", "line\n", {}),
    ("crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc", {}),
    ("if_elif_else", "{% for n in [1,2,3,4] %}{% if n == 1 %}one{% elif n == 2 %}two{% elif n is odd %}odd{% else %}else{% endif %},{% endfor %}", {}),
    ("loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", {}),
    ("loop_prev_next_cycle", "{% for x in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.cycle('a','b') }} {% endfor %}", {}),
    ("for_if_filter", "{% for x in range(10) if x is even %}{{ x }}{{ loop.length }} {% endfor %}", {}),
    ("for_else", "{% for x in [] %}no{% else %}else{% endfor %}", {}),
    ("for_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("for_dict_items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("for_scope", "{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}", {}),
    ("set_carries_across_iterations", "{% for i in [1,2,3] %}{% if i > 1 %}{{ prev }}{% endif %}{% set prev = i %}{% endfor %}", {}),
    ("namespace", "{% set ns = namespace(a=0, s='') %}{% for i in [1,2,3] %}{% set ns.a = ns.a + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.a }} {{ ns.s }}", {}),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}", {}),
    ("set_block", "{% set body %}x{{ 1 + 1 }}y{% endset %}[{{ body }}]{% set up | upper %}abc{% endset %}{{ up }}", {}),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', punct='?') }} {{ greet(name='Cy') }}", {}),
    ("macro_sees_globals", "{% set top = 'T' %}{% macro m() %}{{ top }}{{ bos_token }}{% endmacro %}{{ m() }}", {"bos_token": "<s>"}),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 }}{% endcall %}", {}),
    ("filter_block", "{% filter upper %}shout {{ 'it' }}{% endfilter %}", {}),
    ("raw", "{% raw %}{{ not evaluated }}{% endraw %}", {}),
    ("literals", "{{ 'a\\'b\\n' }}|{{ \"q\\\"\" }}|{{ 'x' 'y' }}|{{ [1, 'a', none, true] }}|{{ {'k': 1, 'j': [2]} }}|{{ (1, 2) }}|{{ 1.5e3 }}|{{ 10 / 4 }}|{{ 1_000 }}", {}),
    ("unicode_escape", "{{ '\\u00e9\\x41' }}", {}),
    ("attr_and_index", "{{ m.role }} {{ m['content'] }} {{ l[0] }} {{ l[-1] }} {{ l.1 }} {{ s[1] }}", {"m": MSGS[1], "l": [1, 2, 3], "s": "héllo"}),
    ("slices", "{{ l[::-1] }} {{ l[1:] }} {{ l[:-1] }} {{ l[::2] }} {{ s[::-1] }} {{ s[1:3] }} {{ l[5:] }}", {"l": [1, 2, 3, 4], "s": "aé😀z"}),
    ("messages_slice", "{% for m in messages[1:] %}{{ m.role }},{% endfor %}", {"messages": MSGS}),
    ("cond_expr", "{{ 'y' if x else 'n' }} {{ 'y' if not x else 'n' }} [{{ 'only' if false }}]", {"x": 1}),
    ("and_or_not", "{{ 0 or 'b' }} {{ 1 and 'c' }} {{ none or [] }} {{ not 0 }} {{ x and y }}", {"x": "a", "y": ""}),
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 'a' != 'a' }} {{ 1 < 2 < 3 }} {{ [1,2] == [1,2] }} {{ true == 1 }}", {}),
    ("in_not_in", "{{ 'b' in 'abc' }} {{ 2 in [1,2] }} {{ 'k' in d }} {{ 'z' not in 'abc' }} {{ 3 not in [1] }}", {"d": {"k": 0}}),
    ("arithmetic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 / 2 }} {{ 0.1 + 0.2 }} {{ 3 - 5 }} {{ -x }} {{ 'ab' * 3 }}", {"x": 4}),
    ("concat_tilde", "{{ 'n' ~ 1 ~ none ~ true ~ nope }}", {}),
    ("filter_precedence", "{{ 'a' + ' b ' | trim + 'c' }} {{ -1 | abs }}", {}),
    ("tests", "{{ 'a' is string }} {{ 1 is number }} {{ 1.5 is number }} {{ {} is mapping }} {{ [] is iterable }} {{ 'x' is iterable }} {{ [] is sequence }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 3 is odd }} {{ 4 is even }} {{ 2 is equalto 2 }} {{ 2 is eq(3) }} {{ x is not none }} {{ none is none }} {{ 'A' is upper }} {{ 9 is divisibleby 3 }}", {"x": 1}),
    ("tests_on_undefined", "{{ nope is string }} {{ nope is mapping }} {{ nope is iterable }} {{ nope is number }}", {}),
    ("filters_text", "{{ '  x  ' | trim }}|{{ 'aBc' | upper }}|{{ 'aBc' | lower }}|{{ 'hello wORLD-x (y' | title }}|{{ 'hELLO' | capitalize }}|{{ 'a-b-c' | replace('-', '+') }}|{{ 'aaa' | replace('a', 'b', 2) }}", {}),
    ("filters_seq", "{{ [3,1,2] | first }} {{ [3,1,2] | last }} {{ 'xyz' | first }} {{ [1,2] | join(', ') }} {{ ['a','b'] | join }} {{ [3,1,2] | length }} {{ 'héllo' | length }} {{ {'a':1} | count }} {{ [1,2,1,3] | unique | list }} {{ [1,2,3] | reverse | list }} {{ 'abc' | reverse }} {{ [3,1,2] | sort }} {{ [3,1,2] | sort(reverse=true) }} {{ ['b','A','c'] | sort }}", {}),
    ("filters_convert", "{{ '42' | int }} {{ 'x' | int }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 3 | float }} {{ 5 | string }} {{ none | string }} {{ 'ab' | list }} {{ {'a': 1, 'b': 2} | items | list }}", {}),
    ("selectattr_map", "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} {{ messages | rejectattr('role', 'eq', 'user') | map(attribute='role') | join(',') }} {{ messages | map(attribute='role') | first }} {{ [{'a': 1}, {'b': 2}] | selectattr('a') | list }} {{ ['a', 'b'] | map('upper') | list }}", {"messages": MSGS}),
    ("select_reject", "{{ [1,2,3,4] | select('odd') | list }} {{ [0,1,'',none,'x'] | select | list }} {{ [1,2,3] | reject('even') | list }}", {}),
    ("tojson", "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ d | tojson(separators=(',', ':')) }}|{{ d | tojson(sort_keys=true) }}|{{ 'é\"\\n<' | tojson }}|{{ 'é' | tojson(ensure_ascii=true) }}|{{ [1.0, 2.5, none, true] | tojson }}|{{ {} | tojson(indent=2) }}|{{ d | tojson(indent='\\t') }}",
     {"d": {"z": [1, {"y": None}], "a": "ü 😀", "f": 1e-7, "big": 1e22}}),
    ("tojson_tool", "{% for t in tools %}{{ t | tojson }}\n{% endfor %}", {"tools": TOOLS}),
    ("indent", "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'x\\n' | indent }}", {}),
    ("safe_string", "{{ '<b>' | safe }}{{ 1 | safe }}", {}),
    ("str_methods", "{{ ' a b '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '\\n\\nx'.lstrip('\\n') }}|{{ 'x  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'aB'.lower() }}{{ 'aB'.upper() }}|{{ 'a-b'.replace('-', '') }}|{{ 'hello world'.title() }}|{{ '{} and {}'.format(1, 'x') }}|{{ 'abc'.find('c') }}|{{ 'a.b.c'.rsplit('.', 1) }}",
     {}),
    ("think_split", "{% set c = m.split('</think>')[-1].lstrip('\\n') %}{% set r = m.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}[{{ r }}][{{ c }}]", {"m": "<think>\nWhy.\n</think>\n\nAnswer"}),
    ("dict_methods", "{{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }} {% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %} {{ d['items'] is defined }}", {"d": {"a": 1, "b": 2}}),
    ("range_global", "{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }}", {}),
    ("dict_global", "{{ dict(a=1, b='x') }}", {}),
    ("repr_output", "{{ ['it\\'s', \"q\", 1.0, 1e100, -0.5] }} {{ {'a': none} }} {{ (1,) }}", {}),
    ("nested_loops", "{% for m in messages %}{% for c in m.content %}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %}", {"messages": MSGS}),
    ("generation_block", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}", {"messages": MSGS}),
    ("raise_exception", "{% if true %}\n  {{ raise_exception('Roles must alternate') }}\n{% endif %}", {}),
    ("error_syntax_unclosed", "{% if x %}\nabc\n", {}),
    ("error_syntax_unknown_tag", "line1\n{% frob %}", {}),
    ("error_syntax_bad_expr", "{{ 1 + }}", {}),
    ("error_unknown_filter", "{{ 'a' | nosuchfilter }}", {}),
    ("error_type", "\n\n  {{ 'a' + 1 }}", {}),
    ("error_undefined_op", "{{ nope + 1 }}", {}),
    ("error_list_append", "{% set l = [] %}{{ l.append(1) }}", {}),
    ("error_namespace_underscore", "{% set ns = namespace(_x=1) %}", {}),
]


def main():
    root, out_path = sys.argv[1:3]
    templates = {}
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if os.path.exists(os.path.join(folder, "tokenizer_config.json")):
            r = template_renders(folder)
            if r:
                r["trl_splits"] = trl_splits(folder)
                templates[name] = r
    cases = [{"name": n, "template": t, "context": c, **render_case(t, c)} for n, t, c in CASES]
    text = json.dumps({"jinja2": jinja2.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
                       "tokenizers": tokenizers.__version__,
                       "conversations": CONVERSATIONS, "pairs": PAIRS, "templates": templates, "cases": cases},
                      indent=1, ensure_ascii=False)
    # Token ids on one line each (a render's ids are one value to read, not hundreds of lines).
    text = re.sub(r'"(?:prompt_|chosen_|rejected_)?ids": \[[\d,\s]*\]', lambda m: m.group(0).split(":")[0] + ": [" + ", ".join(re.findall(r"\d+", m.group(0).split(":", 1)[1])) + "]", text)
    open(out_path, "w", encoding="utf-8").write(text)
    bad = sum("error" in r for t in templates.values() for r in t["renders"])
    print(f"{len(templates)} templates, {sum(len(t['renders']) for t in templates.values())} renders "
          f"({bad} errors), {len(cases)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
