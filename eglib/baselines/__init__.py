"""The paper's baselines, trained on the same data and expert architecture as Expert Gate.

* :mod:`eglib.baselines.classification` -- joint training, oracle-gated experts, a single model
  trained in sequence (FT or LwF), the most-confident-expert rule, and the harness that trains
  them all for one method table;
* :mod:`eglib.baselines.taskclassifier` -- the discriminative task classifier (an MLP on the gate
  features that keeps every task's data), the upper bound the gate is compared with.
"""

from eglib.baselines import taskclassifier
from eglib.baselines.classification import (BaselineResults, joint_training, most_confident, oracle_experts,
                                            routed_accuracy, sequential_model, train_baselines)

__all__ = ["BaselineResults", "joint_training", "most_confident", "oracle_experts", "routed_accuracy", "sequential_model",
           "taskclassifier", "train_baselines"]
