"""Running the notebooks and keeping what they produce (the top floor: it may use every other wing).

* :mod:`eglib.run.reproduce`     -- ``make reproduce``: the notebooks under papermill into ``runs/<timestamp>/``;
* :mod:`eglib.run.kernels`       -- one notebook under papermill: private kernel sockets, start retries, hung cells;
* :mod:`eglib.run.outputs`       -- a notebook's figures and metrics in its run folder;
* :mod:`eglib.run.report`        -- ``report.md`` of a run, beside the paper's numbers;
* :mod:`eglib.run.paper_numbers` -- the paper's published numbers, the only copy in the project;
* :mod:`eglib.run.claims`        -- which notebook claim is checked on which profile, and the check;
* :mod:`eglib.run.checkpoints`   -- trained models of a run, so that an interrupted run resumes;
* :mod:`eglib.run.costs`         -- seconds and peak memory per method;
* :mod:`eglib.run.scoring`       -- per-domain accuracy and confusion of routed predictions;
* :mod:`eglib.run.plots`         -- figures shared by notebooks;
* :mod:`eglib.run.nbclean`       -- the notebook cleaner that CI checks.
"""
