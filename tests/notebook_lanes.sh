#!/usr/bin/env bash
# make test's notebook part: nbval over every committed notebook, then the smoke-sized rehearsal of
# the paper profile's code path, run as two lanes of one thread each.
#
# On 2 cores two one-thread processes get more done than one process on two threads: most of a
# notebook's time is small convolutions, Python and kernel start-up, which a second thread barely
# speeds up. 00 runs first, alone and on every core, because it fills the feature cache that the
# others read; then
#   lane 1: nbval of 01 02 03 05 07, then the no-ImageNet rehearsal (03 05 07) and the smoke 06;
#   lane 2: nbval of 04 06, then the smoke rehearsal of 00-05.
# Each lane keeps the order its notebooks depend on (02 and 03 read 01's autoencoders; 05 reads
# 04's experts when 04 has finished them, and trains them itself otherwise: the same bits, since
# a reused model is the one the same training makes). The two lanes are about as long as each other.
# Every notebook of a lane writes into runs/test/notebooks (its figures, metrics and reuse store),
# emptied first, so that make test always trains what the notebooks train.
#
# Every step of a lane stops after LANE_TIMEOUT seconds (a hang; a rehearsal step prints its Python
# stacks first); each lane's log is printed when both have ended. Exit status: 0 when every step passed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LANE_TIMEOUT=${LANE_TIMEOUT:-1800}
out=runs/test
rm -rf "$out" && mkdir -p "$out"
export EGLIB_PROGRESS=0 EGLIB_RUN_DIR="$PWD/$out/notebooks"

nbval() {  # nbval over the given notebooks, in the given order
    timeout -k 30 "$LANE_TIMEOUT" "$PY" -m pytest -q --nbval-lax --nbval-cell-timeout 600 \
        --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider "$@"
}
smoke() {  # a rehearsal profile's notebooks (eglib.run.reproduce prints its stacks on SIGUSR1)
    timeout -s USR1 -k 30 "$LANE_TIMEOUT" "$PY" -m eglib.run.reproduce --device cpu --seed 0 --cell-timeout 300 "$@"
}
elapsed() { echo "[$1: $(( $(date +%s) - start )) s after the lanes started]"; }

echo "nbval of 00 (it fills the feature cache the other notebooks read)"
nbval notebooks/00_*.ipynb || { echo "nbval of notebooks/00_*.ipynb failed"; exit 1; }
"$PY" -c "from eglib.data import rehearsal; rehearsal.ensure_built()"  # once, before the two lanes share it

echo "two lanes of one thread each (logs in $out/lane1.log and $out/lane2.log):"
echo "  lane 1: nbval of 01 02 03 05 07, then the no-ImageNet rehearsal of 03 05 07 and the smoke 06"
echo "  lane 2: nbval of 04 06, then the smoke rehearsal of 00-05"
export OMP_NUM_THREADS=1
start=$(date +%s)
{
    nbval notebooks/01_*.ipynb notebooks/02_*.ipynb notebooks/03_*.ipynb notebooks/05_*.ipynb notebooks/07_*.ipynb \
      && elapsed "lane 1 nbval done" \
      && smoke --profile smoke-no-imagenet --only 03 05 07 --runs "$out/no-imagenet" \
      && smoke --profile smoke --only 06 --runs "$out/smoke-06"
    status=$?; elapsed "lane 1 ended, status $status"; exit $status
} > "$out/lane1.log" 2>&1 &
lane1=$!
{
    nbval notebooks/04_*.ipynb notebooks/06_*.ipynb \
      && elapsed "lane 2 nbval done" \
      && smoke --profile smoke --only 00 01 02 03 04 05 --runs "$out/smoke"
    status=$?; elapsed "lane 2 ended, status $status"; exit $status
} > "$out/lane2.log" 2>&1 &
lane2=$!
wait $lane1; first=$?
wait $lane2; second=$?
for lane in 1 2; do echo "===== lane $lane ====="; cat "$out/lane$lane.log"; done
rm -rf "$out"/*/*/checkpoints "$out"/*/*/zoo "$out/notebooks/reuse"  # the large files; logs, metrics and figures stay
for result in 1:$first 2:$second; do
    case ${result#*:} in
        0) ;;
        124|137) echo "lane ${result%%:*} was stopped (a step past LANE_TIMEOUT=$LANE_TIMEOUT s: a hang; or killed): $out/lane${result%%:*}.log" ;;
        *) echo "lane ${result%%:*} failed: $out/lane${result%%:*}.log" ;;
    esac
done
test "$first" = 0 && test "$second" = 0
