"""The paper's published numbers (Aljundi et al., CVPR 2017), keyed like our metrics.

Task keys are the paper profile's dataset names (:data:`eglib.data.paper.PAPER_TASKS`);
accuracies are percentages, relatedness values fractions, video errors mean per-pixel L1 (0-255).
Every other module and notebook reads the paper's numbers from here.
"""

from __future__ import annotations

import pandas as pd

TASK_TITLES = {"scenes": "Scenes", "birds": "Birds", "flowers": "Flowers", "cars": "Cars",
               "aircraft": "Aircraft", "actions": "Actions"}

# Table 1: Scenes -> Birds -> Flowers (test accuracy, %). Keys are the row labels of notebook 05's
# Table 1 section (its `table1` metric).
TABLE1 = {
    "joint training": {"scenes": 63.1, "birds": 58.5, "flowers": 85.3},
    "multiple FT experts (oracle)": {"scenes": 63.4, "birds": 56.8, "flowers": 85.4},
    "multiple LwF experts (oracle)": {"scenes": 63.9, "birds": 58.0, "flowers": 84.4},
    "single FT model, after birds": {"scenes": 50.3, "birds": 57.3},
    "single FT model, after flowers": {"scenes": 46.0, "birds": 43.9, "flowers": 84.9},
    "single LwF model, after birds": {"scenes": 61.8, "birds": 53.9},
    "single LwF model, after flowers": {"scenes": 61.2, "birds": 53.5, "flowers": 83.8},
    "Expert Gate": {"scenes": 63.5, "birds": 57.6, "flowers": 84.8},
}
TABLE1_AVERAGE = {"joint training": 68.9, "multiple FT experts (oracle)": 68.5, "multiple LwF experts (oracle)": 68.7,
                  "single FT model, after flowers": 58.2, "single LwF model, after flowers": 66.1, "Expert Gate": 68.6}

# Table 2: the six tasks.
TABLE2 = {
    "joint training": {"scenes": 59.5, "birds": 56.0, "flowers": 85.2, "cars": 77.4, "aircraft": 73.4, "actions": 47.6},
    "most confident FT expert": {"scenes": 40.4, "birds": 43.0, "flowers": 69.2, "cars": 78.2, "aircraft": 54.2, "actions": 8.2},
    "Expert Gate": {"scenes": 60.4, "birds": 57.0, "flowers": 84.4, "cars": 80.3, "aircraft": 72.2, "actions": 49.5},
}

TABLE2_AVERAGE = {"joint training": 66.5, "most confident FT expert": 48.7, "Expert Gate": 67.3}

# Table 3: task recognition (gate accuracy, %). Keys are our report's row labels.
TABLE3 = {
    "discriminative classifier (all data)": {"scenes": 97.0, "birds": 98.6, "flowers": 97.9, "cars": 99.3,
                                             "aircraft": 98.8, "actions": 95.5},
    "Expert Gate (no stored data)": {"scenes": 94.6, "birds": 97.9, "flowers": 98.6, "cars": 99.3,
                                     "aircraft": 97.6, "actions": 98.1},
}

TABLE3_AVERAGE = {"discriminative classifier (all data)": 97.8, "Expert Gate (no stored data)": 97.6}

# The multi-expert option (gate probability above 0.1) on the six tasks: the share of
# test samples (%) that reached more than one expert, and Expert Gate's average accuracy (%) without
# and with the option.
MULTI_EXPERT_SHARE = 3.7
MULTI_EXPERT_ACCURACY = {"hard": 67.3, "threshold 0.1": 68.2}

# Figure 3 / section 4: relatedness (old -> new), as fractions. Key: (new task, old task).
RELATEDNESS = {("scenes", "base"): 0.924, ("birds", "base"): 0.865, ("flowers", "base"): 0.826,
               ("birds", "scenes"): 0.814, ("flowers", "scenes"): 0.788, ("flowers", "birds"): 0.825}

# Figure 6: LwF from a source against fine-tuning ImageNet's AlexNet on the new task alone ("only X"),
# test accuracy %. Key: (source, new task); "base" is ImageNet. Pairs whose relatedness is above
# 0.85 gained from LwF in the paper, pairs below it lost.
FIGURE6_ALONE = {"letters": 86.6, "mnist": 99.2, "actions": 49.7, "cars": 80.6}
FIGURE6_LWF = {("svhn", "letters"): 88.5, ("base", "letters"): 86.2, ("svhn", "mnist"): 99.0, ("base", "mnist"): 99.0,
               ("base", "actions"): 50.5, ("scenes", "actions"): 50.1, ("base", "cars"): 70.0, ("flowers", "cars"): 69.2}

# Table 4: video prediction, mean per-pixel L1 of the 3 predicted frames (lower is better). Domains:
# Highway, Residential (KITTI) and City (Cityscapes), in that arrival order. Keys are notebook 06's
# row labels.
TABLE4 = {
    "single FT, after the last domain": {"highway": 26.2, "residential": 50.0, "city": 17.3},
    "joint training": {"highway": 14.0, "residential": 40.7, "city": 16.9},
    "Expert Gate": {"highway": 13.4, "residential": 40.3, "city": 16.5},
}
TABLE4_AVERAGE = {"single FT, after the last domain": 31.1, "joint training": 23.8, "Expert Gate": 23.4}


def table(numbers: dict[str, dict[str, float]], averages: dict[str, float] | None = None) -> pd.DataFrame:
    """One of the tables above as a DataFrame: a row per method, a column per task (titled), and
    ``avg`` when the paper prints averages."""
    frame = pd.DataFrame(numbers).T.rename(columns=lambda task: TASK_TITLES.get(task, task.title()))
    if averages is not None:
        frame["avg"] = pd.Series(averages)
    return frame
