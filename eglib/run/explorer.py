"""The gate explorer of notebook 02: move the temperature and the multi-expert threshold and watch
routing change, or pick one test image and see every autoencoder's error and the gate's answer.

Everything is computed from one matrix of reconstruction errors ``[N, K]`` (every autoencoder on
every test sample), so moving a slider costs a softmax, not a pass through the networks.

* :meth:`GateExplorer.figure` draws one state as a static figure (what papermill, nbval and the
  saved notebook show);
* :meth:`GateExplorer.widget` wraps it in ipywidgets sliders that redraw it live in JupyterLab.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch

from eglib.method.temperature import multi_expert_statistics


@dataclass
class GateExplorer:
    """The gate's test-time behaviour as a function of the temperature and the threshold.

    Attributes:
        errors: ``[N, K]`` reconstruction error of every autoencoder (column) on every sample.
        true: ``[N]`` index of each sample's own task (a column of ``errors``).
        names: the ``K`` task names, in column order.
        image: ``sample index -> uint8 [S, S, 3]`` picture of that sample (for the picker).
        temperatures: the grid of temperatures on which the curves are drawn.
    """

    errors: torch.Tensor
    true: torch.Tensor
    names: list[str]
    image: Callable[[int], np.ndarray]
    temperatures: np.ndarray = field(default_factory=lambda: np.geomspace(0.02, 4.0, 40))

    def __post_init__(self) -> None:
        self.errors = torch.as_tensor(self.errors, dtype=torch.float64).cpu()
        self.true = torch.as_tensor(self.true).long().cpu()
        if self.errors.ndim != 2 or len(self.errors) != len(self.true) or self.errors.shape[1] != len(self.names):
            raise ValueError(f"errors must be [N, K] with N = len(true) = {len(self.true)} and K = len(names) = "
                             f"{len(self.names)}; got {tuple(self.errors.shape)}.")
        self._curves: dict[float, dict[str, np.ndarray]] = {}

    def probabilities(self, temperature: float) -> torch.Tensor:
        """``[N, K]`` gate probabilities ``softmax(-errors / t)``."""
        if temperature <= 0:
            raise ValueError(f"temperature={temperature}: the gate's temperature must be positive.")
        return torch.softmax(-self.errors / temperature, dim=1)

    def statistics(self, temperature: float, threshold: float) -> dict[str, float]:
        """Hard routing accuracy (independent of ``t``), and what the threshold does at ``t``:
        ``share`` reaching more than one expert, ``coverage`` (own expert among those that answer),
        ``experts_per_sample``."""
        hard = float((self.errors.argmin(dim=1) == self.true).double().mean())
        return {"hard routing accuracy": hard,
                **multi_expert_statistics(self.probabilities(temperature), self.true, threshold)}

    def curves(self, threshold: float) -> dict[str, np.ndarray]:
        """``share``, ``coverage`` and ``experts_per_sample`` over :attr:`temperatures` (cached per threshold)."""
        if threshold not in self._curves:
            rows = [multi_expert_statistics(self.probabilities(float(t)), self.true, threshold) for t in self.temperatures]
            self._curves[threshold] = {key: np.array([row[key] for row in rows]) for key in rows[0]}
        return self._curves[threshold]

    def figure(self, temperature: float, threshold: float, sample: int) -> plt.Figure:
        """Three panels: the threshold's effect against ``t`` (this ``t`` marked); test image
        ``sample``; its error under every autoencoder and the gate's probabilities at ``t``."""
        if not 0 <= sample < len(self.true):
            raise ValueError(f"sample={sample}: pick a test sample between 0 and {len(self.true) - 1}.")
        stats = self.statistics(temperature, threshold)
        curves = self.curves(threshold)
        figure, (sweep, picture, bars) = plt.subplots(1, 3, figsize=(13, 3.8), width_ratios=[1.3, 0.6, 1.3])
        sweep.plot(self.temperatures, curves["share"], color="C1", label="reach > 1 expert")
        sweep.plot(self.temperatures, curves["coverage"], color="C0", label="own expert answers")
        sweep.axhline(stats["hard routing accuracy"], color="grey", ls=":", label="hard routing (any t)")
        sweep.axvline(temperature, color="C3", lw=1)
        sweep.set(xscale="log", ylim=(0, 1.02), xlabel="temperature t", ylabel="share of test samples",
                  title=f"t = {temperature:.3g}, threshold {threshold:.2f}: {stats['share']:.1%} reach > 1 expert,\n"
                        f"{stats['experts_per_sample']:.2f} experts a sample, own expert for {stats['coverage']:.1%}")
        sweep.title.set_fontsize(9)
        sweep.legend(frameon=False, fontsize=8, loc="center right")

        own, errors = int(self.true[sample]), self.errors[sample]
        probabilities = self.probabilities(temperature)[sample]
        picture.imshow(self.image(sample))
        picture.set_title(f"test sample {sample}\nfrom {self.names[own]}", fontsize=9)
        picture.axis("off")

        positions = np.arange(len(self.names))
        routed = int(errors.argmin())
        answering = probabilities > threshold
        colours = ["C2" if k == own else ("C3" if k == routed else "C7") for k in positions]
        bars.bar(positions, probabilities.numpy(), color=colours, alpha=0.85)
        for k in positions:
            bars.annotate(f"e = {errors[k]:.3g}" + (" ✓" if answering[k] else ""), (k, float(probabilities[k])),
                          ha="center", va="bottom", fontsize=7, xytext=(0, 2), textcoords="offset points")
        bars.axhline(threshold, color="k", ls="--", lw=0.8)
        bars.set(xticks=positions, ylim=(0, 1.12), ylabel="gate probability p_i(x)",
                 title="every autoencoder's error e and the gate's probability\n"
                       "(green: own task, red: routed elsewhere, ✓: above the threshold)")
        bars.set_xticklabels(self.names, rotation=30, ha="right", fontsize=8)
        bars.title.set_fontsize(9)
        figure.tight_layout()
        return figure

    def widget(self, temperature: float, threshold: float, sample: int):
        """Sliders for ``t`` (log scale), the threshold and the test sample, over a live figure.

        Returns an ``ipywidgets.VBox``; displayed in JupyterLab with a running kernel, every change
        redraws :meth:`figure`.
        """
        import ipywidgets

        low, high = np.log10(self.temperatures[[0, -1]])
        controls = {
            "temperature": ipywidgets.FloatLogSlider(value=temperature, base=10, min=low, max=high, step=0.02,
                                                     description="t", continuous_update=False),
            "threshold": ipywidgets.FloatSlider(value=threshold, min=0.01, max=0.5, step=0.01,
                                                description="threshold", continuous_update=False),
            "sample": ipywidgets.IntSlider(value=sample, min=0, max=len(self.true) - 1,
                                           description="test sample", continuous_update=False),
        }
        output = ipywidgets.Output()

        def redraw(temperature: float, threshold: float, sample: int) -> None:
            output.clear_output(wait=True)
            with output:
                figure = self.figure(temperature, threshold, sample)
                plt.show()
                plt.close(figure)

        ipywidgets.interactive_output(redraw, controls)
        return ipywidgets.VBox([ipywidgets.HBox(list(controls.values())), output])
