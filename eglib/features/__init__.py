"""Frozen pretrained backbones (ImageNet networks, a sentence encoder) and the features the method reads from them.

* :mod:`eglib.features.backbones` -- the backbone registry, verified weights, and the split of a
  network into a frozen trunk and an expert's trainable part (its *cut point*);
* :mod:`eglib.features.extract`   -- one pass of images through the frozen trunk, giving gate
  features (``conv``, ``pooled``) and expert inputs (``expert_input``), with an on-disk cache;
* :mod:`eglib.features.text_encoder` -- the text counterpart: a frozen, verified all-MiniLM-L6-v2
  sentence encoder run by eglib's own code (tokenizer: :mod:`eglib.features.wordpiece`).

The extraction functions are re-exported here: ``from eglib import features``.
"""

from eglib.features import backbones
from eglib.features.extract import (LAYERS, as_uint8_batch, benchmark_features, cache_dir, cached_features,
                                    extract_features, extract_layers, pool_conv_features, stored_layers,
                                    stored_or_extracted_layers)

__all__ = ["LAYERS", "as_uint8_batch", "backbones", "benchmark_features", "cache_dir", "cached_features",
           "extract_features", "extract_layers", "pool_conv_features", "stored_layers",
           "stored_or_extracted_layers"]
