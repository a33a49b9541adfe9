"""Expert Gate itself, readable beside the paper: it takes tensors and returns tensors, and knows
nothing of datasets, runs or notebooks.

In the method's order (notebooks 01-05):

* :mod:`eglib.method.standardizer` -- the gate's fixed standardisation (base-set statistics, then a sigmoid);
* :mod:`eglib.method.autoencoder`  -- one undercomplete autoencoder per task, and its reconstruction error;
* :mod:`eglib.method.gate`         -- softmax over ``-error / t``; each sample routed on its own;
* :mod:`eglib.method.relatedness`  -- ``Rel = 1 - (Er_a - Er_k) / Er_k``, the source and the LwF/FT decision;
* :mod:`eglib.method.experts`      -- experts, fine-tuning and Learning without Forgetting;
* :mod:`eglib.method.zoo`          -- the experts and autoencoders on disk, loaded lazily;
* :mod:`eglib.method.learner`      -- the lifelong learner: ``add_task`` and ``predict`` over a zoo.
"""
