# Shared by the board scripts (source it from the repository root): the lbs command, the small datasets
# of every family sized for the embedded model's 2,048-token window, one embedded vLLM server for every
# model run, and `run` (one run directory per family and system, collected in RUNS).
#
# Environment (all optional): LBS=COMMAND (default .venv/bin/lbs when present, else lbs), CONCURRENCY.

if [ -z "${LBS:-}" ]; then
  if [ -x .venv/bin/lbs ]; then LBS=.venv/bin/lbs; else LBS=lbs; fi
fi
read -r -a LBS_CMD <<< "$LBS"
lbs() { "${LBS_CMD[@]}" "$@"; }
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
CONCURRENCY=${CONCURRENCY:-4}
FAMILIES=(needle sort joint-recall longmemeval m4le)
RUNS=()

make_datasets() {  # make_datasets WORK [small]: WORK/data/FAMILY for every family
  # Lengths are counted in the embedded model's tokens and include each answer budget (as `lbs demo`).
  # `small`: fewer episodes (for memories that call the model several times per episode on a CPU).
  local work=$1 tok=(--tokenizer embedded --seed 0 --overwrite)
  local needle=(-v single_1 -v single_2 -v multikey_1 -p lengths=512,1k,1536 -p depths=0,50,100)
  local sort=(-p excerpts=4) jr=(-p samples=2) lme=(-v oracle -v haystack -p samples=2)
  local m4le=(-v classification -v qa -v retrieval -v summarization)
  if [ "${2:-}" = small ]; then
    needle=(-v single_1 -v multikey_1 -p lengths=1k,1536 -p depths=25,75) sort=(-p excerpts=2) jr=(-p samples=1)
    lme=(-v haystack -p samples=1) m4le=(-v qa -v retrieval)
  fi
  echo "== datasets -> $work/data" >&2
  lbs generate needle -o "$work/data/needle" "${needle[@]}" -p samples=1 -p max_new_tokens=32 "${tok[@]}"
  lbs generate sort -o "$work/data/sort" -v ls20 \
    -p lengths=250,1000 -p books=1 -p book_words=4000 "${sort[@]}" -p heldout=0 "${tok[@]}"
  lbs generate joint-recall -o "$work/data/joint-recall" -v words \
    -p lengths=512,1536 -p n_ctx=1,4 -p n_queries=4 "${jr[@]}" "${tok[@]}"
  lbs generate longmemeval -o "$work/data/longmemeval" "${lme[@]}" \
    -p abstention=1 -p lengths=1536 -p max_new_tokens=32 "${tok[@]}"
  lbs generate m4le -o "$work/data/m4le" "${m4le[@]}" \
    -p buckets=1536 -p samples=1 -p unit=tokens -p articles=120 -p max_new_tokens=48 "${tok[@]}"
}

serve_embedded() {  # serve_embedded WORK: one server for every model run; sets URL (stopped on exit)
  # Each `--system embedded` alone would start its own server: ~50 s apiece.
  local work=$1 port
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  URL="http://127.0.0.1:$port/v1"
  mkdir -p "$work"
  echo "== serving the embedded model at $URL (log $work/serve.log)" >&2
  lbs serve embedded --port "$port" > "$work/serve.log" 2>&1 &
  SERVER=$!
  trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do
    if "$PY" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/models', timeout=2)" "$URL" 2>/dev/null; then return 0; fi
    if ! kill -0 "$SERVER" 2>/dev/null; then echo "the embedded model's server exited; see $work/serve.log" >&2; tail -n 20 "$work/serve.log" >&2; exit 1; fi
    sleep 1
  done
  echo "the embedded model's server did not answer in 300 s; see $work/serve.log" >&2
  exit 1
}

run() {  # run WORK FAMILY NAME SPEC [lbs run options...]
  local work=$1 family=$2 name=$3 spec=$4
  shift 4
  local out="$work/runs/$family/$name"
  # --no-cache: a cached answer has no latency to report; the board shows what the system costs now
  # exit 4 (partial: some probes failed) still makes a row: the board shows its errors, not a gap
  lbs run "$work/data/$family" --system "$spec" -o "$out" --concurrency "$CONCURRENCY" --overwrite --no-cache "$@" \
    || [ $? -eq 4 ]
  RUNS+=("$out")
}
