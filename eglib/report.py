"""``runs/<timestamp>/report.md``: the run's headline tables and figures on one page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


def to_markdown(frame: pd.DataFrame | pd.Series, index: bool = True) -> str:
    """A GitHub-markdown table of ``frame`` (no extra dependency)."""
    frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
    header = ([""] if index else []) + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, row in frame.iterrows():
        cells = ([str(label)] if index else []) + ["" if pd.isna(v) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _percent_table(rows: dict[str, dict[str, float]]) -> str:
    frame = pd.DataFrame(rows).T
    frame["avg"] = frame.mean(axis=1)
    return to_markdown((100 * frame).round(1))


def _matrix(payload: dict[str, Any], rows_key: str, columns_key: str) -> str:
    frame = pd.DataFrame(payload["values"], index=payload[rows_key], columns=payload[columns_key])
    return to_markdown(frame.round(2))


def build_report(run: Path, metrics: dict[str, Any]) -> str:
    """Markdown text of the report for the run folder ``run`` with merged ``metrics``."""
    parameters = metrics.get("run", {})
    lines = [f"# Expert Gate suite — run {run.name}", "",
             f"Profile `{parameters.get('PROFILE')}`, device `{parameters.get('DEVICE')}`, seed {parameters.get('SEED')}. "
             "Numbers are test accuracies unless said otherwise; the executed notebooks are in `notebooks/`.", ""]
    if "gate_accuracy_per_domain" in metrics:
        lines += ["## Task recognition (Table 3 analogue)", "",
                  _percent_table({"discriminative classifier (all data)": metrics["discriminative_accuracy_per_domain"],
                                  "Expert Gate (no stored data)": metrics["gate_accuracy_per_domain"]}),
                  "", "Paper (six tasks): classifier 97.8, Expert Gate 97.6.", "",
                  "![routing](figures/02_routing_confusion.png)", "", "![stored samples](figures/02_stored_samples.png)", ""]
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
        table = metrics["method_table"]
        frame = pd.DataFrame(table["values"], index=table["rows"], columns=table["columns"])
        lines += ["## Expert Gate against the baselines (Tables 1–2 analogue)", "", to_markdown((100 * frame).round(1)), "",
                  "Paper, six tasks: joint 66.5, most confident 48.7, Expert Gate 67.3. Three tasks: joint 68.9, "
                  "oracle FT 68.5, oracle LwF 68.7, single FT 58.2, single LwF 66.1, Expert Gate 68.6.", "",
                  "![forgetting](figures/05_sequential_forgetting.png)", ""]
        choices = pd.DataFrame(metrics["transfer_choices"]).round(3)
        lines += ["Transfer choices of the lifelong learner:", "", to_markdown(choices, index=False), ""]
    if "video_l1" in metrics:
        frame = pd.DataFrame(metrics["video_l1"]).T
        lines += ["## Video prediction (Table 4 analogue; mean per-pixel L1, lower is better)", "",
                  to_markdown(frame.round(2)), "",
                  f"The gate routed {metrics['video_gate_accuracy']:.1%} of the test clips to their own domain's expert. "
                  "Paper (avg over Highway, Residential, City): single FT 31.1, joint 23.8, Expert Gate 23.4.", "",
                  "![predictions](figures/06_predictions.png)", "", "![forgetting](figures/06_sequential_forgetting.png)", ""]
    seconds = parameters.get("notebook_seconds", {})
    if seconds:
        lines += ["## Time per notebook", "", to_markdown(pd.Series(seconds, name="seconds")), ""]
    return "\n".join(lines)
