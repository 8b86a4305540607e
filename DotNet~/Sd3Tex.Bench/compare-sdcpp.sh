#!/usr/bin/env bash
# compare-sdcpp.sh SD_CLI WEIGHTS_DIR [--sizes "256 512"] [--steps 3] [--rounds 1] [--threads 2] [--cfg 4.5]
#                  [--tokenizers DIR] [--disturbed-pct 5] [--keep-logs DIR]
#
# Side by side on this machine, in one window: stable-diffusion.cpp's sd-cli and this package's `sd3tex generate`
# on the same SD3-Medium-shaped random F16 weights, at each size, same thread count, CFG, Euler, a few steps. The
# two run alternately (sd.cpp, ours, sd.cpp, ours, ...) while /proc/stat is sampled, and one Markdown table comes
# out: s/step of each (the median of the steps after the first: the first holds sd.cpp's lazy weight load and the
# JIT's warm-up), their ratio, GFLOP/s by the FLOP model of the CPU performance anchor (FLOP = 2·MAC over every
# linear layer and both attention products, 154 text tokens, CFG = two MMDiT passes), and the CPU time that
# *other* processes took while the timed steps ran. A run whose timed steps other processes disturbed (more than
# --disturbed-pct % of the cores' time) is marked and left out of the medians, never averaged in.
#
# SD_CLI      a stable-diffusion.cpp `sd-cli` that you built (never committed to this repository). Its fastest CPU
#             build, the one to compare against, uses ggml's llamafile (tinyBLAS) GEMMs:
#               git clone --recursive https://github.com/leejet/stable-diffusion.cpp <scratch>/sdcpp
#               cd <scratch>/sdcpp
#               cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DGGML_LLAMAFILE=ON -DGGML_NATIVE=ON
#               cmake --build build --config Release -j "$(nproc)"
#               # -> build/bin/sd-cli ; it is run with --diffusion-fa (flash attention in the diffusion model)
#             Build it in a scratch folder outside this repository.
# WEIGHTS_DIR a folder for the weights: when it lacks them, `sd3tex make-random-checkpoint --family sd3-medium
#             --layout separate --no-t5 --dtype f16` writes them there (5.97 GB: sd3_model, clip_l, clip_g, vae
#             .safetensors, the separate-file layout both tools read: sd-cli takes --diffusion-model, --clip_l,
#             --clip_g and --vae, adding its own key prefixes where the file's keys lack them); later runs reuse them.
# --tokenizers a folder with clip/vocab.json and clip/merges.txt for `sd3tex generate` (sd-cli has its own built
#             in); default: $SD3TEX_TOKENIZERS, WEIGHTS_DIR/tokenizers, or ../shared/tokenizers beside the package.
#
# Needs Linux (/proc), bash 5, the .NET SDK (DotNet~/sd3tex builds the tool on first use) and about 8 GB of free
# memory (sd-cli holds every weight in RAM). Exit status: 0 when every run finished, 1 when one failed, 2 for a bad
# command line. The quiet-machine figure is the median over undisturbed rounds; on a shared machine run several
# rounds (--rounds 3) and read the "other CPU" column.
set -euo pipefail
export LC_ALL=C

usage() { sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//' >&2; echo "see the header of $0 for details" >&2; exit 2; }
die() { echo "compare-sdcpp: $*" >&2; exit "${2:-1}"; }

[ $# -ge 2 ] || usage
SD_CLI="$1"; WEIGHTS="$2"; shift 2
SIZES="256 512"; STEPS=3; ROUNDS=1; THREADS=2; CFG=4.5; TOKENIZERS="${SD3TEX_TOKENIZERS:-}"; DISTURBED_PCT=5; KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) SIZES="${2:?}"; shift 2 ;;
    --steps) STEPS="${2:?}"; shift 2 ;;
    --rounds) ROUNDS="${2:?}"; shift 2 ;;
    --threads) THREADS="${2:?}"; shift 2 ;;
    --cfg) CFG="${2:?}"; shift 2 ;;
    --tokenizers) TOKENIZERS="${2:?}"; shift 2 ;;
    --disturbed-pct) DISTURBED_PCT="${2:?}"; shift 2 ;;
    --keep-logs) KEEP="${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare-sdcpp: unknown option $1" >&2; usage ;;
  esac
done
SIZES="${SIZES//,/ }"
[ "$STEPS" -ge 2 ] 2>/dev/null || die "--steps must be at least 2 (the first step is not timed)" 2
[ "$ROUNDS" -ge 1 ] 2>/dev/null || die "--rounds must be at least 1" 2
for s in $SIZES; do [ $((s % 16)) -eq 0 ] 2>/dev/null && [ "$s" -gt 0 ] || die "size $s is not a positive multiple of 16" 2; done
[ -r /proc/stat ] || die "needs Linux: /proc/stat is not readable"
[ "${BASH_VERSINFO[0]}" -ge 5 ] || die "needs bash 5 (EPOCHREALTIME)"
[ -x "$SD_CLI" ] || die "SD_CLI '$SD_CLI' is not an executable file (build stable-diffusion.cpp's sd-cli: see the header of this script)" 2

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
sd3tex="$root/DotNet~/sd3tex"
command -v dotnet >/dev/null 2>&1 || die "the .NET SDK (dotnet) is needed to build and run sd3tex"

# ---- weights: the same files for both ---------------------------------------------------------------------------
files=(sd3_model.safetensors clip_l.safetensors clip_g.safetensors vae.safetensors)
have=0; for f in "${files[@]}"; do [ -s "$WEIGHTS/$f" ] && have=$((have + 1)); done
if [ "$have" -ne "${#files[@]}" ]; then
  if [ -d "$WEIGHTS" ] && [ -n "$(ls -A "$WEIGHTS" 2>/dev/null)" ]; then
    die "WEIGHTS_DIR $WEIGHTS has other files but not all of ${files[*]}: give an empty or new folder" 2
  fi
  echo "compare-sdcpp: writing SD3-Medium-shaped random F16 weights to $WEIGHTS (about 6 GB) ..." >&2
  "$sd3tex" make-random-checkpoint --family sd3-medium --layout separate --no-t5 --dtype f16 --output "$WEIGHTS" >&2
else
  echo "compare-sdcpp: reusing the weights in $WEIGHTS" >&2
fi
W="$(cd "$WEIGHTS" && pwd)"

if [ -z "$TOKENIZERS" ]; then
  if [ -f "$W/tokenizers/clip/vocab.json" ]; then TOKENIZERS="$W/tokenizers"
  elif [ -f "$root/../shared/tokenizers/clip/vocab.json" ]; then TOKENIZERS="$root/../shared/tokenizers"
  else die "no tokenizers for sd3tex: pass --tokenizers DIR (clip/vocab.json, clip/merges.txt)" 2; fi
fi
[ -f "$TOKENIZERS/clip/vocab.json" ] && [ -f "$TOKENIZERS/clip/merges.txt" ] || die "--tokenizers $TOKENIZERS lacks clip/vocab.json or clip/merges.txt" 2
"$sd3tex" --help >/dev/null # builds the tool now, outside the timed runs

work="$(mktemp -d "${TMPDIR:-/tmp}/compare-sdcpp.XXXXXX")"
cleanup() { [ -n "$KEEP" ] && mkdir -p "$KEEP" && cp -r "$work"/. "$KEEP"/ 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
TCK="$(getconf CLK_TCK)"
NCPU="$(getconf _NPROCESSORS_ONLN)"

# ---- one run: timestamped output lines and /proc/stat samples -----------------------------------------------------
# run NAME CMD...: NAME.out = "<epoch seconds> <line>" per output line (\r counts as a line end, for sd-cli's bar);
# NAME.stat = "<epoch seconds> <busy ticks of the machine> <ticks of the run's process> <its RSS kB>" every 0.25 s.
run() {
  local name="$1"; shift
  local fifo="$work/$name.fifo"
  mkfifo "$fifo"
  ( stdbuf -o0 tr '\r' '\n' <"$fifo" | while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$work/$name.out" ) &
  local reader=$!
  "$@" >"$fifo" 2>&1 &
  local pid=$!
  local stat cpu rss line
  : >"$work/$name.stat"
  while kill -0 "$pid" 2>/dev/null; do
    read -r line </proc/stat || true
    stat="$(set -- $line; echo $(($2 + $3 + $4 + $7 + $8 + ${9:-0})))"
    cpu=0; rss=0
    if read -r line 2>/dev/null </proc/$pid/stat; then
      line="${line##*) }"; set -- $line; cpu=$(( ${12} + ${13} ))
    fi
    while read -r k v _; do [ "$k" = "VmRSS:" ] && rss="$v" && break; done 2>/dev/null </proc/$pid/status || true
    echo "$EPOCHREALTIME $stat $cpu $rss" >>"$work/$name.stat"
    sleep 0.25
  done
  local rc=0
  wait "$pid" || rc=$?
  wait "$reader" || true
  rm -f "$fifo"
  return "$rc"
}

# step_times NAME PATTERN: from the lines that end a step (PATTERN: an awk regex holding "k/n"), the step durations:
# the tool's own per-step figure when the line has one ("12.34s/it" or "1.23it/s", as sd-cli prints), else the time
# between consecutive step lines. Prints "t_start t_end median_step_seconds steps_timed" over the steps after the
# first; the window ends at the last step line and reaches back by the timed steps' sum.
step_times() {
  awk -v pat="$2" '
    { if (match($0, pat)) { s = substr($0, RSTART, RLENGTH); split(s, a, "/"); sub(/.*[^0-9]/, "", a[1]); k = a[1] + 0
        if (k >= 1 && !(k in t)) { t[k] = $1 + 0; if (k > n) n = k
          if (match(s, /[0-9.]+s\/it/)) v[k] = substr(s, RSTART, RLENGTH - 4) + 0
          else if (match(s, /[0-9.]+it\/s/)) { x = substr(s, RSTART, RLENGTH - 4) + 0; if (x > 0) v[k] = 1 / x } } } }
    END { if (n < 2 || !(1 in t)) { print "- - - 0"; exit }
      m = 0; sum = 0
      for (k = 2; k <= n; k++) {
        if (k in v) x = v[k]; else if ((k in t) && ((k - 1) in t)) x = t[k] - t[k - 1]; else continue
        d[++m] = x; sum += x }
      if (m == 0) { print "- - - 0"; exit }
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (d[j] < d[i]) { x = d[i]; d[i] = d[j]; d[j] = x }
      med = m % 2 ? d[(m + 1) / 2] : (d[m / 2] + d[m / 2 + 1]) / 2
      printf "%.3f %.3f %.3f %d\n", t[n] - sum, t[n], med, m }' "$work/$1.out"
}

# other_cpu NAME T0 T1: seconds of CPU that processes other than the run took between T0 and T1, and the share of
# the machine's cores that is; the run's peak sampled RSS in GB; the run's own CPU seconds between T0 and T1.
other_cpu() {
  awk -v t0="$2" -v t1="$3" -v tck="$TCK" -v ncpu="$NCPU" '
    { if ($4 > rss) rss = $4 }
    $1 >= t0 && !a { a = 1; ta = $1; ba = $2; ca = $3 }
    $1 <= t1 { tb = $1; bb = $2; cb = $3 }
    END { if (!a || tb <= ta) { printf "- - %.1f -\n", rss / 1e6; exit }
      o = ((bb - ba) - (cb - ca)) / tck; if (o < 0) o = 0
      printf "%.1f %.1f %.1f %.1f\n", o, 100 * o / ((tb - ta) * ncpu), rss / 1e6, (cb - ca) / tck }' "$work/$1.stat"
}

gflop() { # CFG step GFLOP of SD3 Medium at SIZE² (the anchor note's model; 154 text tokens, batch 2)
  awk -v s="$1" 'BEGIN { d = 1536; B = 2; p2c = 64; g = s / 16; tx = g * g; tc = 154; mlp = 6144
    f = 2*B*tx*p2c*d + 2*B*(256*d + d*d) + 2*B*(2048*d + d*d) + 2*B*tc*4096*d
    for (i = 0; i < 24; i++) { last = (i == 23); f += 2*B*d*d*((last ? 2 : 6) + 6); f += 2*B*tx*d*(4*d + 2*mlp)
      f += last ? 2*B*tc*d*3*d : 2*B*tc*d*(4*d + 2*mlp); f += 4*B*(tx + tc)^2*d }
    f += 2*B*d*2*d + 2*B*tx*d*p2c; printf "%.1f\n", f / 1e9 }'
}

load() { cut -d' ' -f1-3 /proc/loadavg; }
prompt="mossy stone bricks, seamless texture"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $NCPU logical cores; $(uname -sr)" >&2
echo "sd-cli: $SD_CLI; weights: $W; $STEPS steps, CFG $CFG, Euler, $THREADS threads, sizes $SIZES, $ROUNDS round(s)" >&2

failed=0
declare -A RES
for r in $(seq 1 "$ROUNDS"); do
  for s in $SIZES; do
    for who in sdcpp ours; do
      name="$who-$s-$r"
      echo "compare-sdcpp: round $r, ${s}², $who (load average $(load)) ..." >&2
      t_start=$EPOCHREALTIME
      if [ "$who" = sdcpp ]; then
        run "$name" stdbuf -o0 -e0 "$SD_CLI" --diffusion-model "$W/sd3_model.safetensors" --clip_l "$W/clip_l.safetensors" --clip_g "$W/clip_g.safetensors" \
          --vae "$W/vae.safetensors" -p "$prompt" -W "$s" -H "$s" --steps "$STEPS" --cfg-scale "$CFG" --sampling-method euler \
          -t "$THREADS" --diffusion-fa -s 42 -o "$work/$name.png" || { echo "compare-sdcpp: sd-cli failed (log: $name.out)" >&2; tail -5 "$work/$name.out" >&2; failed=1; }
        pat=' [0-9]+/[0-9]+ - [0-9.]+(s/it|it/s)'
      else
        run "$name" env SD3TEX_CPU_THREADS="$THREADS" "$sd3tex" generate --weights "$W/sd3_model.safetensors" "$W/clip_l.safetensors" \
          "$W/clip_g.safetensors" "$W/vae.safetensors" --tokenizers "$TOKENIZERS" --no-t5 --prompt "$prompt" --width "$s" --height "$s" \
          --steps "$STEPS" --cfg "$CFG" --shift 3 --sampler euler --seed 42 --device cpu --output "$work/$name.png" \
          || { echo "compare-sdcpp: sd3tex generate failed (log: $name.out)" >&2; tail -5 "$work/$name.out" >&2; failed=1; }
        pat='step [0-9]+/[0-9]+'
      fi
      wall=$(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
      read -r t0 t1 med n < <(step_times "$name" "$pat")
      if [ "$n" -gt 0 ]; then read -r ocpu opct rss own < <(other_cpu "$name" "$t0" "$t1"); else ocpu=-; opct=-; rss=-; own=-; fi
      cps=$(awk -v c="$own" -v n="$n" 'BEGIN { if (c != "-" && n > 0) printf "%.1f", c / n; else print "-" }')
      RES[$name]="$med $ocpu $opct $rss $wall $cps"
      echo "compare-sdcpp:   s/step $med (median of $n), own CPU $cps s/step, other CPU ${ocpu} s (${opct} % of the cores) while the steps ran, peak RSS ${rss} GB, run $wall s" >&2
    done
  done
done

# ---- the table -------------------------------------------------------------------------------------------------
disturbed() { [ "$1" = - ] || awk -v p="$1" -v lim="$DISTURBED_PCT" 'BEGIN { exit !(p > lim) }'; }
echo
echo "| size | round | sd.cpp s/step | ours s/step | ours / sd.cpp | sd.cpp GFLOP/s | ours GFLOP/s | CPU-s/step sd.cpp / ours (ratio) | other CPU during sd.cpp's steps | other CPU during ours | whole run sd.cpp / ours | peak RSS sd.cpp / ours |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for s in $SIZES; do
  g=$(gflop "$s"); sd_ok=(); our_ok=()
  for r in $(seq 1 "$ROUNDS"); do
    read -r m1 o1 p1 r1 w1 c1 <<<"${RES[sdcpp-$s-$r]}"; read -r m2 o2 p2 r2 w2 c2 <<<"${RES[ours-$s-$r]}"
    cr=$(awk -v a="$c1" -v b="$c2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", b / a; else print "-" }')
    f1=""; f2=""
    if disturbed "$p1"; then f1=" (disturbed)"; elif [ "$m1" != - ]; then sd_ok+=("$m1"); fi
    if disturbed "$p2"; then f2=" (disturbed)"; elif [ "$m2" != - ]; then our_ok+=("$m2"); fi
    ratio=$(awk -v a="$m1" -v b="$m2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", b / a; else print "-" }')
    gf1=$(awk -v g="$g" -v a="$m1" 'BEGIN { if (a + 0 > 0) printf "%.0f", g / a; else print "-" }')
    gf2=$(awk -v g="$g" -v a="$m2" 'BEGIN { if (a + 0 > 0) printf "%.0f", g / a; else print "-" }')
    echo "| ${s}² ($g GFLOP/step) | $r | $m1$f1 | $m2$f2 | $ratio | $gf1 | $gf2 | $c1 / $c2 ($cr) | $o1 s ($p1 %) | $o2 s ($p2 %) | $w1 / $w2 s | $r1 / $r2 GB |"
  done
  med() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
  ms=$(med "${sd_ok[@]}"); mo=$(med "${our_ok[@]}")
  ratio=$(awk -v a="$ms" -v b="$mo" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "**%.2f**", b / a; else print "- (no undisturbed pair)" }')
  echo "| ${s}² | median, undisturbed runs only (${#sd_ok[@]} / ${#our_ok[@]}) | $ms | $mo | $ratio | | | | | | | |"
done
echo
echo "s/step: median of steps 2..$STEPS of each run (the first holds sd-cli's lazy weight load and the JIT's warm-up); CFG $CFG, Euler, $THREADS threads,"
echo "F16 weights, no T5 (154 context tokens in both); other CPU: busy time of the whole machine (/proc/stat) minus the run's own while its timed"
echo "steps ran; a run over $DISTURBED_PCT % of the cores is marked (disturbed) and left out of the medians. CPU-s/step: the run's own CPU time"
echo "per timed step (user + system, all threads), which sharing the cores changes much less than the wall time. Whole run: the process from start to"
echo "exit (loading, text encoding, the steps, the VAE decode, the PNG); --steps 28 --sizes 512 gives the whole-generation comparison."
echo "Load average at the end: $(load)."
exit "$failed"
