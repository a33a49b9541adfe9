"""Expert Gate on text (notebook 07): domains of real text, and character-level experts.

* :mod:`eglib.text.corpora` -- five text domains read offline from Python and the installed
  packages, de-duplicated and split by document, and the gate's base set;
* :mod:`eglib.text.charlm`  -- character-level language models with one head per task, trained
  from scratch, by fine-tuning or by LwF; bits per character; the DEMix-style mixture.

The gate itself is :mod:`eglib.method.gate` on the vectors of the frozen sentence encoder
(:mod:`eglib.features.text_encoder`), the images' code unchanged.
"""

from eglib.text import charlm, corpora

__all__ = ["charlm", "corpora"]
