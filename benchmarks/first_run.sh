#!/usr/bin/env bash
# The README's first command as a newcomer runs it: a fresh clone, a new venv, an empty OPTICAL_HOME, timed with
# /usr/bin/time -v (wall clock, peak memory). Prints the phase lines the command printed and the report's timings.
#
#   bash benchmarks/first_run.sh [extra demo flags, e.g. --full]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d /tmp/optical-first-run.XXXX)"
git clone -q "$repo" "$scratch/clone"
export OPTICAL_HOME="$scratch/home"
cd "$scratch/clone"
command="python3 -m venv .venv && .venv/bin/pip install -q torch==2.13.0 -e . && .venv/bin/optical demo $*"
stamped="date +%s > $scratch/t0 && python3 -m venv .venv && .venv/bin/pip install -q torch==2.13.0 -e . && date +%s > $scratch/t1 && .venv/bin/optical demo $*"
start=$(date +%s)
echo "in $scratch/clone, OPTICAL_HOME=$OPTICAL_HOME: $command"
# each stdout line is prefixed with the seconds since the start, to time the first result
/usr/bin/time -v bash -c "$stamped" 2> "$scratch/stderr.log" \
  | while IFS= read -r line; do echo "$(( $(date +%s) - start )) $line"; done > "$scratch/stdout.log" \
  || { tail -20 "$scratch/stderr.log"; exit 1; }
echo "install: $(( $(cat "$scratch/t1") - $(cat "$scratch/t0") )) s"
echo "first result (in-domain headline) printed after $(grep -a -m1 "First result\|Headline" "$scratch/stdout.log" | cut -d' ' -f1) s"
grep -a "^[0-9]* \[[0-9]*/[0-9]*\]" "$scratch/stdout.log" || true
grep -a "building the embedded\|teacher: 100%\|student: 100%" "$scratch/stderr.log" | sed 's/.*\r//' | cut -c1-160 || true
grep -a "Wall clock of this run" runs/demo/report.md || true
grep -a "Elapsed (wall clock)\|Maximum resident set size" "$scratch/stderr.log"
grep -a -c "" "$scratch/stdout.log" > /dev/null && sed -n '/^[0-9]* ## Headline/,$p' "$scratch/stdout.log" | cut -d' ' -f2- | head -30
columns=()  # --full tunes the rerank depth on dev: its fusion column (4) is not the README's depth-10 one
case " $* " in *" --full "*) columns=(--columns 1 2 3); echo "--full: comparing columns 1-3 (column 4 is depth-tuned)";; esac
.venv/bin/python benchmarks/check_headline.py runs/demo "${columns[@]}" || echo "the headline differs from the README's (above)"
echo "logs: $scratch/stdout.log $scratch/stderr.log"
