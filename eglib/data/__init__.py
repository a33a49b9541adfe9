"""Benchmarks: the embedded mini domains, the paper's datasets, and the rehearsal's generated ones.

* :mod:`eglib.data.types`       -- ``Split``, ``Domain``, ``Benchmark``, ``DataError``;
* :mod:`eglib.data.mini`        -- build, verify and load the mini benchmark;
* :mod:`eglib.data.mini_images` -- the generators of the mini domains' images;
* :mod:`eglib.data.class_split` -- two tasks cut from one domain by its classes (Split-MNIST's construction);
* :mod:`eglib.data.downloads`   -- the paper datasets' official files and checksums, downloaded safely;
* :mod:`eglib.data.prepare`     -- each paper dataset's raw layout turned into ``<task>/{train,test}/<class>/``;
* :mod:`eglib.data.paper`       -- the prepared paper datasets as a benchmark, and the ImageNet base set;
* :mod:`eglib.data.rehearsal`   -- every paper dataset generated in its official layout, for the rehearsal;
* :mod:`eglib.data.load`        -- one entry point per profile: :func:`load_benchmark`,
  :func:`load_video_benchmark`.

The loaders and types are re-exported here: ``from eglib import data``.
"""

from eglib.data.class_split import ClassPart, split_classes
from eglib.data.load import VideoBenchmark, check_profile_ready, load_benchmark, load_video_benchmark
from eglib.data.mini import BASE_SIZE, MINI_VERSION, SPLIT_SIZES, build_mini, check_mini, load_mini
from eglib.data.types import Benchmark, DataError, Domain, Split

__all__ = ["BASE_SIZE", "Benchmark", "ClassPart", "DataError", "Domain", "MINI_VERSION", "SPLIT_SIZES", "Split", "build_mini",
           "check_mini", "check_profile_ready", "load_benchmark", "load_mini", "load_video_benchmark", "split_classes",
           "VideoBenchmark"]
