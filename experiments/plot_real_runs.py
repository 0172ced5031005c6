#!/usr/bin/env python3
"""Plots the chosen / rejected rewards and the margin of every run in a store, with the phases
the diagnosis found shaded behind them, to check the diagnosis by eye (experiments/README.md,
"The diagnosis on real runs").

Usage: plot_real_runs.py CLI DB OUT_DIR
  CLI     build/bin/prefstudio-cli
  DB      a store the runs were imported into (prefstudio-cli import PATH --db DB)
  OUT_DIR one PNG per run, RUN_ID-NAME.png, and summary.tsv (run, algorithm, points, headline)

Needs matplotlib (install it into a virtual environment, not the system Python).
"""
import csv
import io
import json
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"healthy": "#d8f0d8", "both_falling": "#f6c8c8", "both_rising": "#f8e2b8",
           "margin_collapsing": "#e4cdf2", "diverging": "#bbbbbb", "warming_up": "#eeeeee"}


def cli(exe, db, *args):
    return subprocess.run([exe, *args, "--db", db], check=True, capture_output=True, text=True).stdout


def main():
    exe, db, out = sys.argv[1:4]
    os.makedirs(out, exist_ok=True)
    runs = json.loads(cli(exe, db, "runs", "--json"))
    rows = []
    for run in runs:
        rid = run["id"]
        diag = json.loads(cli(exe, db, "diagnose", str(rid), "--json"))
        series = {}
        for r in csv.DictReader(io.StringIO(cli(exe, db, "export", str(rid), "--format", "csv"))):
            if r["metric"] in ("rewards/chosen", "rewards/rejected", "rewards/margins"):
                value = float(r["value"]) if r["value"] not in ("", None) else float("nan")
                series.setdefault(r["metric"], []).append((int(r["step"]), value))
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
        for ax in (top, bottom):
            for ph in diag.get("regimes", []):
                ax.axvspan(ph["start_step"], ph["end_step"], color=COLOURS.get(ph["regime"], "#ffffff"), lw=0)
            ax.axhline(0.0, color="black", lw=0.6)
        for name, ax, colour in (("rewards/chosen", top, "tab:green"), ("rewards/rejected", top, "tab:red"),
                                 ("rewards/margins", bottom, "tab:blue")):
            pts = series.get(name, [])
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colour, lw=0.8, label=name)
        top.legend(loc="best", fontsize=8)
        bottom.legend(loc="best", fontsize=8)
        bottom.set_xlabel("step")
        name = run.get("name", str(rid))
        top.set_title(f"run {rid} {name} ({run.get('algorithm') or '?'}): final {diag.get('final_regime')}, "
                      f"{diag.get('severity')}", fontsize=9)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"{rid:02d}-{name}.png"), dpi=80)
        plt.close(fig)
        points = len(series.get("rewards/chosen", []))
        rows.append((rid, name, run.get("algorithm") or "", points, diag.get("headline", "")))
    with open(os.path.join(out, "summary.tsv"), "w") as f:
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")


if __name__ == "__main__":
    main()
