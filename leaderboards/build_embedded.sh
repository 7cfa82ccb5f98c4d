#!/usr/bin/env bash
# Rebuilds the first real leaderboard, leaderboards/embedded/: small datasets of every family (needle,
# sort, joint-recall, longmemeval, m4le) sized for the embedded model's 2,048-token window, run by the
# embedded model with its full context, by retrieval:embedded (BM25 memory read by the same model), by
# no-context:embedded, oracle and random, then `lbs leaderboard build --normalize chance` (each probe's
# own chance level; the random run is a baseline row, not the yardstick).
#
#   bash leaderboards/build_embedded.sh      the whole thing: one vLLM server shared by every model run
#
# Environment (all optional):
#   LEADERBOARD_BASELINES_ONLY=1   oracle and random only, no model (checks the plumbing in seconds);
#                                  writes to $LEADERBOARD_WORK/baselines-board unless LEADERBOARD_OUT is set
#   LEADERBOARD_OUT=DIR            where the leaderboard goes (default leaderboards/embedded)
#   LEADERBOARD_WORK=DIR           datasets and runs (default build/leaderboard-embedded, git-ignored)
#   LEADERBOARD_NORMALIZE=MODE     none, chance (default; random is an alias) or ref:SYSTEM
#   LBS=COMMAND                    the lbs command (default .venv/bin/lbs when present, else lbs)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${LBS:-}" ]; then
  if [ -x .venv/bin/lbs ]; then LBS=.venv/bin/lbs; else LBS=lbs; fi
fi
read -r -a LBS_CMD <<< "$LBS"
lbs() { "${LBS_CMD[@]}" "$@"; }
BASELINES_ONLY=${LEADERBOARD_BASELINES_ONLY:-0}
WORK=${LEADERBOARD_WORK:-build/leaderboard-embedded}
if [ "$BASELINES_ONLY" = 1 ]; then OUT=${LEADERBOARD_OUT:-$WORK/baselines-board}; else OUT=${LEADERBOARD_OUT:-leaderboards/embedded}; fi
NORMALIZE=${LEADERBOARD_NORMALIZE:-chance}
CONCURRENCY=4
# Lengths are counted in the embedded model's tokens and include each answer budget (as `lbs demo`).
TOK=(--tokenizer embedded --seed 0 --overwrite)
started=$SECONDS

echo "== datasets -> $WORK/data" >&2
lbs generate needle -o "$WORK/data/needle" -v single_1 -v single_2 -v multikey_1 \
  -p lengths=512,1k,1536 -p depths=0,50,100 -p samples=1 -p max_new_tokens=32 "${TOK[@]}"
lbs generate sort -o "$WORK/data/sort" -v ls20 \
  -p lengths=250,1000 -p books=1 -p book_words=4000 -p excerpts=4 -p heldout=0 "${TOK[@]}"
lbs generate joint-recall -o "$WORK/data/joint-recall" -v words \
  -p lengths=512,1536 -p n_ctx=1,4 -p n_queries=4 -p samples=2 "${TOK[@]}"
lbs generate longmemeval -o "$WORK/data/longmemeval" -v oracle -v haystack \
  -p samples=2 -p abstention=1 -p lengths=1536 -p max_new_tokens=32 "${TOK[@]}"
lbs generate m4le -o "$WORK/data/m4le" -v classification -v qa -v retrieval -v summarization \
  -p buckets=1536 -p samples=1 -p unit=tokens -p articles=120 -p max_new_tokens=48 "${TOK[@]}"
FAMILIES=(needle sort joint-recall longmemeval m4le)

RUNS=()
run() {  # run FAMILY NAME SPEC: one run directory per family and system
  local out="$WORK/runs/$1/$2"
  # --no-cache: a cached answer has no latency to report; the board shows what the system costs now
  lbs run "$WORK/data/$1" --system "$3" -o "$out" --concurrency "$CONCURRENCY" --overwrite --no-cache
  RUNS+=("$out")
}

if [ "$BASELINES_ONLY" != 1 ]; then
  # One server for every model run (each `--system embedded` alone would start its own: ~50 s apiece).
  PY=python3
  [ -x .venv/bin/python ] && PY=.venv/bin/python
  PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  URL="http://127.0.0.1:$PORT/v1"
  mkdir -p "$WORK"
  echo "== serving the embedded model at $URL (log $WORK/serve.log)" >&2
  lbs serve embedded --port "$PORT" > "$WORK/serve.log" 2>&1 &
  SERVER=$!
  trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do
    if "$PY" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/models', timeout=2)" "$URL" 2>/dev/null; then break; fi
    if ! kill -0 "$SERVER" 2>/dev/null; then echo "the embedded model's server exited; see $WORK/serve.log" >&2; tail -n 20 "$WORK/serve.log" >&2; exit 1; fi
    sleep 1
  done
fi

echo "== runs -> $WORK/runs" >&2
for family in "${FAMILIES[@]}"; do
  run "$family" oracle oracle
  run "$family" random random
  if [ "$BASELINES_ONLY" != 1 ]; then
    extra=""
    [ "$family" = sort ] && extra=",logprobs=1"  # SORT is scored by first-token log-probabilities, as the paper
    run "$family" embedded "embedded,base_url=$URL$extra"
    run "$family" no-context-embedded "no-context:embedded,base_url=$URL$extra"
    run "$family" retrieval-embedded "retrieval:embedded,base_url=$URL$extra"
  fi
done

echo "== leaderboard -> $OUT" >&2
lbs leaderboard build "${RUNS[@]}" -o "$OUT" --normalize "$NORMALIZE" --overwrite \
  --title "longbench-suite: SmolLM2-135M-Instruct (embedded, vLLM on CPU) and baselines"
echo "done in $((SECONDS - started)) s: $OUT/index.html, $OUT/README.md" >&2
