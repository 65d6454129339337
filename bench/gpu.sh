#!/usr/bin/env bash
# Training throughput of DSRF against its floor on a GPU, as one prepared run (about 5 minutes at most):
# MOSI shapes (batch 32) and MOSEI shapes (batch 64), fp32 and bf16 autocast, eager and
# torch.compile(mode="reduce-overhead"); samples/s, peak GPU memory and the DSRF/floor ratio of each.
#
#     bash bench/gpu.sh                 # from anywhere; PYTHON=/path/to/python to pick the interpreter
#
# Installs nothing and needs no network: it runs bench/train_throughput.py with the interpreter at
# hand (.venv/bin/python if present), which must have a CUDA build of torch. Each run has its own
# time limit, so a slow compile costs that run only; the markdown rows at the end go in docs/results.md.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$PY" -c 'import sys, torch
if not torch.cuda.is_available():
    sys.exit(f"bench/gpu.sh: torch {torch.__version__} sees no CUDA device; nothing measured")
print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")' || exit 1

rows=()
for run in "mosi 32" "mosei 64"; do
    set -- $run
    for compile in "" "--compile"; do
        limit=$([ -n "$compile" ] && echo 55 || echo 20)  # 4 x 20 s + 4 x 55 s = 300 s at the very worst
        for bf16 in "" "--bf16"; do
            mode="$([ -n "$bf16" ] && echo bf16 || echo fp32), $([ -n "$compile" ] && echo compiled || echo eager)"
            echo "== $1 batch $2, $mode"
            out=$(timeout "$limit" "$PY" bench/train_throughput.py --device cuda --shapes "$1" --batch "$2" \
                  --steps 40 --warmup 5 $compile $bf16 2>&1)
            status=$?
            echo "$out" | grep -v '^|'
            if [ $status -eq 0 ]; then
                rows+=("$(echo "$out" | grep '^|' | tail -1)")
            else
                echo "(failed or over ${limit} s: exit $status)"
                rows+=("| (exit $status) | $1 | $2 | $mode | – | – | – | – | – |")
            fi
        done
    done
done

echo
echo "| GPU | shapes | batch | mode | DSRF samples/s | floor samples/s | floor/DSRF | DSRF MiB | floor MiB |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
