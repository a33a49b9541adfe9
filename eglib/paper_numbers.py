"""The paper's published numbers (Aljundi et al., CVPR 2017), keyed like our metrics.

Task keys are the paper profile's dataset names (:data:`eglib.paper_benchmark.PAPER_TASKS`);
accuracies are percentages, relatedness values fractions. Source: ``shared/docs/method.md``.
"""

from __future__ import annotations

TASK_TITLES = {"scenes": "Scenes", "birds": "Birds", "flowers": "Flowers", "cars": "Cars",
               "aircraft": "Aircraft", "actions": "Actions"}

# Table 1: Scenes -> Birds -> Flowers (test accuracy, %). Keys are our method_table row labels.
TABLE1 = {
    "joint training": {"scenes": 63.1, "birds": 58.5, "flowers": 85.3},
    "multiple FT experts (oracle)": {"scenes": 63.4, "birds": 56.8, "flowers": 85.4},
    "multiple LwF experts (oracle)": {"scenes": 63.9, "birds": 58.0, "flowers": 84.4},
    "single FT model, after all tasks": {"scenes": 46.0, "birds": 43.9, "flowers": 84.9},
    "single LwF model, after all tasks": {"scenes": 61.2, "birds": 53.5, "flowers": 83.8},
    "Expert Gate": {"scenes": 63.5, "birds": 57.6, "flowers": 84.8},
}

# Table 2: the six tasks.
TABLE2 = {
    "joint training": {"scenes": 59.5, "birds": 56.0, "flowers": 85.2, "cars": 77.4, "aircraft": 73.4, "actions": 47.6},
    "most confident FT expert": {"scenes": 40.4, "birds": 43.0, "flowers": 69.2, "cars": 78.2, "aircraft": 54.2, "actions": 8.2},
    "Expert Gate": {"scenes": 60.4, "birds": 57.0, "flowers": 84.4, "cars": 80.3, "aircraft": 72.2, "actions": 49.5},
}

# Table 3: task recognition (gate accuracy, %). Keys are our report's row labels.
TABLE3 = {
    "discriminative classifier (all data)": {"scenes": 97.0, "birds": 98.6, "flowers": 97.9, "cars": 99.3,
                                             "aircraft": 98.8, "actions": 95.5},
    "Expert Gate (no stored data)": {"scenes": 94.6, "birds": 97.9, "flowers": 98.6, "cars": 99.3,
                                     "aircraft": 97.6, "actions": 98.1},
}

# Figure 3 / section 4: relatedness (old -> new), as fractions. Key: (new task, old task).
RELATEDNESS = {("scenes", "base"): 0.924, ("birds", "base"): 0.865, ("flowers", "base"): 0.826,
               ("birds", "scenes"): 0.814, ("flowers", "scenes"): 0.788, ("flowers", "birds"): 0.825}
