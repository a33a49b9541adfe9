"""``runs/<timestamp>/report.md``: the run's headline tables and figures on one page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from eglib import config
from eglib.run import paper_numbers, seeds


def to_markdown(frame: pd.DataFrame | pd.Series, index: bool = True) -> str:
    """A GitHub-markdown table of ``frame`` (no extra dependency)."""
    frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
    header = ([""] if index else []) + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, row in frame.iterrows():
        cells = ([str(label)] if index else []) + ["" if pd.isna(v) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _frame(payload: dict[str, Any]) -> pd.DataFrame:
    """A table saved by :func:`eglib.run.outputs.save_metrics` (``rows``, ``columns``, ``values``) as a DataFrame."""
    return pd.DataFrame(payload["values"], index=payload["rows"], columns=payload["columns"])


def _percent_table(rows: dict[str, dict[str, float]]) -> str:
    frame = pd.DataFrame(rows).T
    frame["avg"] = frame.mean(axis=1)
    return to_markdown((100 * frame).round(1))


def _matrix(payload: dict[str, Any], rows_key: str, columns_key: str) -> str:
    frame = pd.DataFrame(payload["values"], index=payload[rows_key], columns=payload[columns_key])
    return to_markdown(frame.round(2))


def beside_paper(ours: dict[str, dict[str, float]], paper: dict[str, dict[str, float]], scale: float = 100.0) -> str:
    """Markdown table: per method and task, ours / paper / difference (ours - paper), ``scale``-d."""
    rows = {}
    for method, cells in paper.items():
        if method not in ours:
            continue
        row = {}
        for task, theirs in cells.items():
            value = ours[method].get(task)
            mine = None if value is None else round(scale * value, 1)
            row[task] = "–" if mine is None else f"{mine} / {theirs} ({mine - theirs:+.1f})"
        rows[method] = row
    if not rows:
        return "(no method of the paper's table was run)"
    return to_markdown(pd.DataFrame(rows).T)


def _paper_section(metrics: dict[str, Any]) -> list[str]:
    """The paper profile's tables next to the paper's: 'ours / paper (difference)' per cell."""
    lines = ["## Beside the paper (ours / paper (ours − paper), %)", ""]
    if "table1" in metrics:
        lines += ["Table 1 (Scenes → Birds → Flowers; the first three tasks of the same run):", "",
                  beside_paper(_frame(metrics["table1"]).T.to_dict(), paper_numbers.TABLE1), ""]
    if "method_table" in metrics:
        lines += ["Table 2 (six tasks):", "", beside_paper(_frame(metrics["method_table"]).T.to_dict(), paper_numbers.TABLE2), ""]
    if "gate_accuracy_per_domain" in metrics:
        ours = {"discriminative classifier (all data)": metrics["discriminative_accuracy_per_domain"],
                "Expert Gate (no stored data)": metrics["gate_accuracy_per_domain"]}
        lines += ["Table 3 (task recognition):", "", beside_paper(ours, paper_numbers.TABLE3), ""]
    if "relatedness" in metrics:
        rel = metrics["relatedness"]
        pairs = []
        for (new, old), theirs in paper_numbers.RELATEDNESS.items():
            if new in rel["new_tasks"] and old in rel["old_tasks"]:
                mine = rel["values"][rel["new_tasks"].index(new)][rel["old_tasks"].index(old)]
                pairs.append({"old → new": f"{old} → {new}", "ours": round(100 * mine, 1),
                              "paper": round(100 * theirs, 1), "ours − paper": round(100 * (mine - theirs), 1)})
        if pairs:
            lines += ["Relatedness (Figure 3 and section 4):", "", to_markdown(pd.DataFrame(pairs), index=False), ""]
    if "lwf_vs_ft_pairs" in metrics:
        rows = []
        for row in metrics["lwf_vs_ft_pairs"]:
            key = (row["source"], row["new"])
            if key in paper_numbers.FIGURE6_LWF:
                rel = row["relatedness"]  # None (NaN saved) for pairs from ImageNet without ImageNet images
                rows.append({"source → new": f"{key[0]} → {key[1]}", "Rel": "–" if rel is None else round(rel, 3),
                             "LwF": f"{100 * row['LwF']:.1f} / {paper_numbers.FIGURE6_LWF[key]}",
                             "only new task (FT)": f"{100 * row['FT']:.1f} / {paper_numbers.FIGURE6_ALONE[key[1]]}"})
        if rows:
            lines += ["Figure 6 (LwF from the source against fine-tuning ImageNet's AlexNet on the new task alone):", "",
                      to_markdown(pd.DataFrame(rows), index=False), ""]
    return lines


def _settings_section(settings: dict[str, Any]) -> list[str]:
    frame = pd.DataFrame({"value": {key: str(value) for key, value in settings.items()}})
    return ["## Settings used (the profile's values, including those the paper leaves open)", "", to_markdown(frame), ""]


def build_report(run: Path, metrics: dict[str, Any]) -> str:
    """Markdown text of the report for the run folder ``run`` with merged ``metrics``."""
    parameters = metrics.get("run", {})
    lines = [f"# Expert Gate suite — run {run.name}", "",
             f"Profile `{parameters.get('PROFILE')}`, device `{parameters.get('DEVICE')}`, seed {parameters.get('SEED')}. "
             "Numbers are test accuracies unless said otherwise; the executed notebooks are in `notebooks/`.", ""]
    if parameters.get("failed_notebooks"):
        lines += ["## Failed notebooks", "", "These stopped at the cell named (an error, or a claim whose check did not "
                  "hold); the sections below hold only what was saved before it. The executed copies are in `notebooks/`.",
                  ""] + [f"- `{name}`: {reason}" for name, reason in parameters["failed_notebooks"].items()] + [""]
    profile = config.PROFILES.get(parameters.get("PROFILE", ""))
    if profile is not None and profile.rehearsal:
        lines += ["> **REHEARSAL.** Generated images and an untrained AlexNet: this run shows that the paper "
                  "profile's code path runs end to end. Its numbers measure nothing about Expert Gate.", ""]
    if "gate_accuracy_per_domain" in metrics:
        lines += ["## Task recognition (Table 3 analogue)", "",
                  _percent_table({"discriminative classifier (all data)": metrics["discriminative_accuracy_per_domain"],
                                  "Expert Gate (no stored data)": metrics["gate_accuracy_per_domain"]}),
                  "", "Paper (six tasks): classifier 97.8, Expert Gate 97.6.", "",
                  "![routing](figures/02_routing_confusion.png)", "", "![stored samples](figures/02_stored_samples.png)", ""]
    if "gate_temperature_calibrated" in metrics:
        lines += [f"Gate temperature t = {metrics['gate_temperature']:.3f}; calibrated on the validation split: "
                  f"{metrics['gate_temperature_calibrated']:.3f}; the paper's t = 2 scaled by sqrt(D): "
                  f"{metrics['gate_temperature_scaled_paper']:.3f}. With the multi-expert threshold, "
                  f"{metrics['multi_expert_share']:.1%} of "
                  f"the test samples reach more than one expert (paper: {paper_numbers.MULTI_EXPERT_SHARE}%).", "",
                  "![temperature](figures/02_temperature.png)", ""]
    if "relatedness" in metrics:
        lines += ["## Relatedness (Figure 3 analogue; row = new task, column = old task)", "",
                  _matrix(metrics["relatedness"], "new_tasks", "old_tasks"), "",
                  "![relatedness](figures/03_relatedness_heatmap.png)", ""]
    if "lwf_vs_ft_pairs" in metrics:
        pairs = pd.DataFrame(metrics["lwf_vs_ft_pairs"]).round(3)
        lines += ["## LwF versus fine-tuning (Figure 6 analogue)", "", to_markdown(pairs, index=False), "",
                  f"The rule 'LwF if Rel > 0.85' picks the better method for {metrics['lwf_rule_right_at_085']:.0%} "
                  f"of the pairs; the best threshold on these pairs is {metrics['lwf_best_threshold']:.2f}.", "",
                  "![lwf](figures/04_lwf_vs_ft.png)", ""]
    if "method_table" in metrics:
        frame = _frame(metrics["method_table"])
        lines += ["## Expert Gate against the baselines (Tables 1–2 analogue)", "", to_markdown((100 * frame).round(1)), "",
                  "Paper, six tasks: joint 66.5, most confident 48.7, Expert Gate 67.3. Three tasks: joint 68.9, "
                  "oracle FT 68.5, oracle LwF 68.7, single FT 58.2, single LwF 66.1, Expert Gate 68.6.", "",
                  "![forgetting](figures/05_sequential_forgetting.png)", ""]
        if "table1" in metrics and not (profile is not None and profile.paper_tasks):  # the paper's: beside it, below
            lines += ["The first three arrivals on their own (Table 1 analogue):", "",
                      to_markdown((100 * _frame(metrics["table1"])).round(1)), ""]
        if metrics.get("transfer_choices"):
            choices = pd.DataFrame(metrics["transfer_choices"]).round(3)
            lines += ["Transfer choices of the lifelong learner:", "", to_markdown(choices, index=False), ""]
    if "video_l1" in metrics:
        frame = pd.DataFrame(metrics["video_l1"]).T
        lines += ["## Video prediction (Table 4 analogue; mean per-pixel L1, lower is better)", "",
                  to_markdown(frame.round(2)), ""]
        if "video_ssim" in metrics and "video_sharpness" in metrics:
            quality = pd.DataFrame({"SSIM (avg)": pd.DataFrame(metrics["video_ssim"]).T["avg"],
                                    "sharpness ratio (avg)": pd.DataFrame(metrics["video_sharpness"]).T["avg"]})
            lines += ["SSIM (higher is better) and sharpness ratio (gradient energy of the prediction over the "
                      "truth's; blur falls far below 1):", "", to_markdown(quality.round(3)), ""]
        lines += [f"The gate routed {metrics['video_gate_accuracy']:.1%} of the test clips to their own domain's expert. "
                  "Paper (avg over Highway, Residential, City): single FT 31.1, joint 23.8, Expert Gate 23.4.", "",
                  "![predictions](figures/06_predictions.png)", "", "![forgetting](figures/06_sequential_forgetting.png)", ""]
    if "text_bpc" in metrics:
        frame = pd.DataFrame(metrics["text_bpc"]).T
        routing = pd.DataFrame(metrics["text_routing_by_prefix"])
        lines += ["## Text domains (notebook 07; bits per character on held-out documents, lower is better)", "",
                  to_markdown(frame.round(3)), "",
                  f"The gate routed {metrics['text_gate_accuracy']:.1%} of the test sequences to their own domain's expert "
                  f"from their first {metrics.get('text_route_prefix', '?')} characters. Routing accuracy against the "
                  "characters read (the gate, and the mixture's posterior):", "", to_markdown(routing.round(3)), "",
                  "![bpc](figures/07_bpc.png)", "", "![routing by prefix](figures/07_routing_by_prefix.png)", ""]
        if "text_cost" in metrics:
            lines += ["What each costs:", "", to_markdown(_frame(metrics["text_cost"]).round(3)), ""]
    if profile is not None and profile.paper_tasks:
        lines += _paper_section(metrics)
    if parameters.get("settings"):
        lines += _settings_section(parameters["settings"])
    seconds = parameters.get("notebook_seconds", {})
    if seconds:
        lines += ["## Time per notebook", "", to_markdown(pd.Series(seconds, name="seconds")), ""]
    return "\n".join(lines)


def _in_points(key: str) -> bool:
    """Whether a headline number is a fraction shown in percentage points."""
    return "accuracy" in key or key.endswith("_share") or key in seeds.DIFFERENCES


def build_seed_report(metrics: dict[str, Any]) -> str:
    """Markdown text of a multi-seed run's top ``report.md``: every headline number as mean ± sd
    over the seeds (accuracies and their differences in points), then a link to each seed's report."""
    parameters, block = metrics.get("run", {}), metrics["seeds"]
    count = len(block["seeds"])
    rows = []
    for key, entry in block["keys"].items():
        scale = 100.0 if _in_points(key) else 1.0
        sd = "–" if entry["sd"] is None else f"{scale * entry['sd']:.2f}"
        rows.append({"number": key, "mean": f"{scale * entry['mean']:.2f}", "sd": sd,
                     "per seed": ", ".join(f"{scale * v:.2f}" for v in entry["values"])})
    lines = [f"# Expert Gate suite — {count} seeds", "",
             f"Profile `{parameters.get('PROFILE')}`, device `{parameters.get('DEVICE')}`, seeds "
             f"{', '.join(map(str, block['seeds']))}. Mean ± sample standard deviation over the seeds; "
             "accuracies and their differences in percentage points, other numbers as they are. A difference "
             "smaller than about twice its sd is within seed noise.", ""]
    if parameters.get("failed_notebooks"):
        lines += ["## Failed notebooks", ""] + [f"- `{name}`: {why}" for name, why in parameters["failed_notebooks"].items()] + [""]
    lines += ["## Spread over seeds", "", to_markdown(pd.DataFrame(rows), index=False), "",
              "## Each seed's run", ""] + [f"- seed {s}: [report](seed-{s}/report.md)" for s in block["seeds"]] + [""]
    return "\n".join(lines)
