"""The picture of the method that opens the suite (``00_data_and_features``): drawn in code, so it
changes with the text it shows and needs no image file."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

# (label, colour) of the boxes of each row, left to right
TEST_ROW = [
    ("test image x", "#dddddd"),
    ("frozen ImageNet\nbackbone", "#c6dbef"),
    ("features\n(standardised)", "#c6dbef"),
    ("autoencoders\nA_1 … A_K", "#fdd0a2"),
    ("errors e_1 … e_K", "#fdd0a2"),
    ("p = softmax(−e / t)", "#fdd0a2"),
    ("expert of\nargmax p", "#c7e9c0"),
    ("answer", "#dddddd"),
]
TRAIN_ROW = [
    ("task T_k arrives\n(its data only)", "#dddddd"),
    ("train A_k on\nT_k's features", "#fdd0a2"),
    ("Er_k = error of A_k,\nEr_a = error of A_a\non T_k's val data", "#fdd0a2"),
    ("Rel = 2 − Er_a / Er_k\n(every stored a)", "#fdd0a2"),
    ("source a* =\nmost related", "#fdd0a2"),
    ("Rel > {threshold} ?\nLwF : fine-tune\nfrom a*'s expert", "#c7e9c0"),
    ("store A_k and\nthe expert;\ndrop T_k's data", "#dddddd"),
]


def _row(axis: plt.Axes, boxes: list[tuple[str, str]], y: float, width: float, gap: float) -> list[tuple[float, float]]:
    """Draw ``boxes`` left to right at height ``y`` joined by arrows; return each box's centre."""
    centres = []
    for index, (label, colour) in enumerate(boxes):
        x = index * (width + gap)
        axis.add_patch(FancyBboxPatch((x, y - 0.5), width, 1.0, boxstyle="round,pad=0.02,rounding_size=0.12",
                                      facecolor=colour, edgecolor="#444444", linewidth=0.8))
        axis.text(x + width / 2, y, label, ha="center", va="center", fontsize=8)
        if index:
            axis.annotate("", xy=(x, y), xytext=(x - gap, y),
                          arrowprops={"arrowstyle": "->", "color": "#444444", "lw": 1.0})
        centres.append((x + width / 2, y))
    return centres


def method_diagram(threshold: float = 0.85, width: float = 1.55, gap: float = 0.35) -> plt.Figure:
    """Expert Gate in two rows: how a test sample is routed (top) and how a new task is learned
    (bottom), with the stored autoencoders that join them. Colours: grey data, blue frozen
    features, orange the gate's autoencoders, green the experts. ``threshold``: the relatedness above
    which a new expert is trained with LwF (the profile's; the paper's 0.85)."""
    figure, axis = plt.subplots(figsize=(14.5, 4.2))
    top = _row(axis, TEST_ROW, 2.6, width, gap)
    bottom = _row(axis, [(label.format(threshold=f"{threshold:g}"), colour) for label, colour in TRAIN_ROW],
                  0.0, width, gap)
    # what the training row stores (one autoencoder, one expert per task) is what the test row uses
    for target, bend in ((top[3], 0.25), (top[6], -0.15)):
        axis.annotate("", xy=(target[0], target[1] - 0.5), xytext=(bottom[6][0], bottom[6][1] + 0.5),
                      arrowprops={"arrowstyle": "->", "color": "#b35806", "lw": 1.0, "ls": "--",
                                  "connectionstyle": f"arc3,rad={bend}"})
    axis.text(top[0][0] - width / 2, 1.3, "dashed: the autoencoder and the expert stored for each task are\n"
              "what routes and answers at test time; no data of old tasks is kept", fontsize=8, color="#b35806",
              va="center")
    axis.text(-0.1, 3.35, "test time: route each sample on its own", fontsize=10, weight="bold")
    axis.text(-0.1, 0.75, "a new task arrives: relatedness picks the source and the training", fontsize=10,
              weight="bold")
    span = len(TEST_ROW) * (width + gap)
    axis.set(xlim=(-0.2, span), ylim=(-0.7, 3.6))
    axis.axis("off")
    return figure
