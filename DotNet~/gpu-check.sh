#!/usr/bin/env bash
# gpu-check.sh [--dry-run] [--skip-tests] [--skip-bench]
#
# One command for the day an NVIDIA GPU is at hand: on a machine with the GPU's driver (nvidia-smi) and the .NET SDK,
#   1. builds the solution in Release;
#   2. runs the whole test suite with the kernel, model and pipeline tests on the CUDA accelerator
#      (SD3TEX_TEST_DEVICES=cuda: every DeviceTestBase fixture, i.e. every kernel and model test against its plain
#      C# reference, and the pipeline-tiny fixture through TextureGenerator), plus the engine-free tests;
#   3. writes SD3-Medium-shaped random F16 weights once (about 6 GB, on the CPU, outside the timed benchmark; reused
#      from GPU_CHECK_WEIGHTS on later runs) and runs
#      the benchmark on CUDA: one CFG step at 512² and 1024² (s/step, GFLOP/s), VAE decode 1024², and a whole 1024²
#      generation of 28 Euler steps through TextureGenerator (when the CLIP tokenizers are found), while nvidia-smi
#      samples the device memory (peak device memory beside each figure);
#   4. writes one Markdown table of the results to $OUT/gpu-check.md (default ./gpu-check-results), with the logs.
# Planned to finish within 8 minutes on a fast GPU: build ≈ 1 min, tests ≈ 3 min (the CPU-only ILGPU accelerator
# is left out), weights ≈ 1–2 min (about 60 MB/s of random numbers; 0 when reused), benchmark ≈ 2–3 min (2 repeats);
# each phase has a time limit (GPU_CHECK_TEST_LIMIT 300, GPU_CHECK_WEIGHTS_LIMIT 300, GPU_CHECK_BENCH_LIMIT 300
# seconds) and a phase that hits it is marked in the table.
#
# Without an NVIDIA GPU it exits at once (status 3) with a message saying so; --dry-run prints the plan and the
# commands without running anything (status 0, with or without a GPU). Status 1 when a phase failed, 2 for a bad
# command line. Environment: OUT (results folder), GPU_CHECK_WEIGHTS (weights folder, default $OUT/weights),
# SD3TEX_TOKENIZERS (clip/vocab.json, clip/merges.txt; default ../shared/tokenizers beside the package when present),
# GPU_CHECK_NVIDIA_SMI (the nvidia-smi to use; tests point it at a stand-in).
set -euo pipefail
export LC_ALL=C

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
dry=0; skip_tests=0; skip_bench=0
for a in "$@"; do
  case "$a" in
    --dry-run) dry=1 ;;
    --skip-tests) skip_tests=1 ;;
    --skip-bench) skip_bench=1 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown option $a (see --help)" >&2; exit 2 ;;
  esac
done

out="${OUT:-./gpu-check-results}"
weights="${GPU_CHECK_WEIGHTS:-$out/weights}"
smi="${GPU_CHECK_NVIDIA_SMI:-nvidia-smi}"
test_limit="${GPU_CHECK_TEST_LIMIT:-300}"
bench_limit="${GPU_CHECK_BENCH_LIMIT:-300}"
weights_limit="${GPU_CHECK_WEIGHTS_LIMIT:-300}"
tok="${SD3TEX_TOKENIZERS:-}"
if [ -z "$tok" ]; then
  for c in "$root/../shared/tokenizers" "$root/shared/tokenizers"; do [ -f "$c/clip/vocab.json" ] && tok="$c" && break; done
fi
bench_dll="$here/artifacts/bin/Sd3Tex.Bench/release/sd3tex-bench.dll"
bench_args=(--suite models --device cuda --sizes 512,1024 --repeats 2 --vae-sizes 1024 --encoders clip --weights-dir "$weights")
[ -n "$tok" ] && bench_args+=(--generate 1024 --steps 28 --tokenizers "$tok")

plan() {
  echo "gpu-check plan (results in $out):"
  echo "  1. dotnet build \"$here/Sd3Tex.slnx\" -c Release"
  [ "$skip_tests" = 1 ] && echo "  2. (tests skipped)" ||
    echo "  2. SD3TEX_TEST_DEVICES=cuda dotnet test \"$here/Sd3Tex.slnx\" -c Release --no-build   (limit ${test_limit} s)"
  if [ "$skip_bench" = 1 ]; then echo "  3. (benchmark skipped)"; else
    echo "  3. weights in $weights (SD3-Medium-shaped random F16 weights, written once on the CPU, limit ${weights_limit} s, then reused)"
    echo "     dotnet sd3tex-bench.dll ${bench_args[*]}   (limit ${bench_limit} s; nvidia-smi samples memory.used)"
    [ -z "$tok" ] && echo "     (no CLIP tokenizers found: the whole-generation row is left out; set SD3TEX_TOKENIZERS)"
  fi
  echo "  4. $out/gpu-check.md"
}

# ---- is there a GPU? ----------------------------------------------------------------------------------------------
gpu=""
if command -v "$smi" >/dev/null 2>&1; then
  gpu="$("$smi" --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n 1 || true)"
fi
if [ "$dry" = 1 ]; then
  if [ -n "$gpu" ]; then echo "gpu-check: GPU: $gpu"; else echo "gpu-check: no NVIDIA GPU here (dry run: the plan only)"; fi
  plan
  exit 0
fi
if [ -z "$gpu" ]; then
  echo "gpu-check: no NVIDIA GPU found ($smi is missing or lists no GPU): nothing to check here." >&2
  echo "gpu-check: run this on a machine with an NVIDIA GPU, its driver and the .NET SDK; CPU figures come from DotNet~/Sd3Tex.Bench (see the README)." >&2
  exit 3
fi
command -v dotnet >/dev/null 2>&1 || { echo "gpu-check: the .NET SDK (dotnet) is needed; see the package README." >&2; exit 1; }

mkdir -p "$out"
out="$(cd "$out" && pwd)"
logs="$out/logs"; mkdir -p "$logs"
rows=()
row() { rows+=("| $1 | $2 | $3 |"); }
failed=0
t0=$SECONDS
echo "gpu-check: GPU: $gpu"
plan

# ---- 1. build -----------------------------------------------------------------------------------------------------
s=$SECONDS
if dotnet build "$here/Sd3Tex.slnx" -c Release -nologo -v quiet >"$logs/build.log" 2>&1; then
  row "Release build" "ok" "$((SECONDS - s)) s"
else
  row "Release build" "**failed**" "see logs/build.log"; failed=1
  tail -20 "$logs/build.log" >&2
fi

# ---- 2. the test suite on CUDA ------------------------------------------------------------------------------------
if [ "$failed" = 0 ] && [ "$skip_tests" = 0 ]; then
  s=$SECONDS
  rc=0
  SD3TEX_TEST_DEVICES=cuda timeout "$test_limit" dotnet test "$here/Sd3Tex.slnx" -c Release --no-build >"$logs/tests.log" 2>&1 || rc=$?
  summary="$(grep -E '(Passed|Failed)!? +- +Failed: +[0-9]+, +Passed: +[0-9]+' "$logs/tests.log" | tail -n 1 | sed 's/ - Sd3Tex.*//' || true)"
  if [ "$rc" = 124 ]; then row "test suite, kernels and models on CUDA" "**stopped at the ${test_limit} s limit**" "${summary:-no summary}; logs/tests.log"; failed=1
  elif [ "$rc" != 0 ]; then row "test suite, kernels and models on CUDA" "**failed**" "${summary:-no summary}; failures in logs/tests.log"; failed=1
    grep -E '^\s+Failed ' "$logs/tests.log" | head -20 >&2 || true
  else row "test suite, kernels and models on CUDA" "ok" "${summary}; $((SECONDS - s)) s"; fi
fi

# ---- 3. benchmark on SD3-Medium-shaped weights --------------------------------------------------------------------
if [ "$failed" = 0 ] && [ "$skip_bench" = 0 ]; then
  mkdir -p "$weights"
  s=$SECONDS
  # the bench's own file names (RandomWeights: the sd3-medium family's shapes and key names)
  if [ ! -s "$weights/sd3tex-bench-sd3-medium-mmdit-f16.safetensors" ] || [ ! -s "$weights/sd3tex-bench-sd3-vae-f16.safetensors" ]; then
    # written once, outside the timed benchmark: the MMDiT, CLIP-L, CLIP-G (the CPU encodes them once) and the VAE
    rc=0
    timeout "$weights_limit" dotnet "$bench_dll" --suite models --device cpu --sizes "" --vae-sizes "" --encoders clip --repeats 1 \
      --weights-dir "$weights" >"$logs/weights.log" 2>&1 || rc=$?
    if [ "$rc" = 0 ]; then
      # the VAE's file comes with the first decode; write it here too so the benchmark times no writing
      timeout "$weights_limit" dotnet "$bench_dll" --suite models --device cpu --sizes "" --vae-sizes 64 --encoders none --repeats 1 \
        --weights-dir "$weights" >>"$logs/weights.log" 2>&1 || rc=$?
    fi
    if [ "$rc" = 0 ]; then row "random SD3-Medium-shaped F16 weights" "written" "$((SECONDS - s)) s, $weights"
    else row "random SD3-Medium-shaped F16 weights" "**failed**" "logs/weights.log"; failed=1; fi
  else
    row "random SD3-Medium-shaped F16 weights" "reused" "$weights"
  fi
  s=$SECONDS
  [ "$failed" = 0 ] || { skip_bench=1; }
fi
if [ "$failed" = 0 ] && [ "$skip_bench" = 0 ]; then
  peak_file="$logs/nvidia-smi.csv"
  ( while :; do "$smi" --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -n 1; sleep 0.5; done ) >"$peak_file" &
  sampler=$!
  rc=0
  timeout "$bench_limit" dotnet "$bench_dll" "${bench_args[@]}" >"$logs/bench.log" 2>&1 || rc=$?
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  peak="$(sort -n "$peak_file" | tail -n 1)"
  if [ "$rc" = 124 ]; then row "benchmark" "**stopped at the ${bench_limit} s limit**" "rows below are those it finished; logs/bench.log"; failed=1
  elif [ "$rc" != 0 ]; then row "benchmark" "**failed**" "logs/bench.log"; failed=1; tail -20 "$logs/bench.log" >&2
  else row "benchmark" "ok" "$((SECONDS - s)) s"; fi
  row "peak device memory during the benchmark (nvidia-smi, whole GPU)" "${peak:-?} MiB" "sampled every 0.5 s"
  while IFS= read -r line; do
    # bench rows: | figure | median | min–max | GFLOP/s | note |
    IFS='|' read -r _ fig med _ gf note _ <<<"$line"
    row "$(echo "$fig" | sed 's/^ *//;s/ *$//')" "$(echo "$med" | sed 's/^ *//;s/ *$//')" "$(echo "$gf" | sed 's/^ *//;s/ *$//') GFLOP/s;$(echo "$note" | sed 's/ *$//')"
  done < <(grep -E "^\| (MMDiT|VAE decode|CLIP|whole generation|SD3-Medium MMDiT load|\(wrote)" "$logs/bench.log" || true)
fi

# ---- 4. the table ---------------------------------------------------------------------------------------------------
{
  echo "# gpu-check: $gpu"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), .NET $(dotnet --version 2>/dev/null), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $((SECONDS - t0)) s in all"
  echo
  echo "| check | result | detail |"
  echo "| --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
} >"$out/gpu-check.md"
cat "$out/gpu-check.md"
exit "$failed"
