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
source leaderboards/lib.sh
BASELINES_ONLY=${LEADERBOARD_BASELINES_ONLY:-0}
WORK=${LEADERBOARD_WORK:-build/leaderboard-embedded}
if [ "$BASELINES_ONLY" = 1 ]; then OUT=${LEADERBOARD_OUT:-$WORK/baselines-board}; else OUT=${LEADERBOARD_OUT:-leaderboards/embedded}; fi
NORMALIZE=${LEADERBOARD_NORMALIZE:-chance}
started=$SECONDS

make_datasets "$WORK"
if [ "$BASELINES_ONLY" != 1 ]; then
  serve_embedded "$WORK"
fi

echo "== runs -> $WORK/runs" >&2
for family in "${FAMILIES[@]}"; do
  run "$WORK" "$family" oracle oracle
  run "$WORK" "$family" random random
  if [ "$BASELINES_ONLY" != 1 ]; then
    extra=""
    [ "$family" = sort ] && extra=",logprobs=1"  # SORT is scored by first-token log-probabilities, as the paper
    run "$WORK" "$family" embedded "embedded,base_url=$URL$extra"
    run "$WORK" "$family" no-context-embedded "no-context:embedded,base_url=$URL$extra"
    run "$WORK" "$family" retrieval-embedded "retrieval:embedded,base_url=$URL$extra"
  fi
done

echo "== leaderboard -> $OUT" >&2
lbs leaderboard build "${RUNS[@]}" -o "$OUT" --normalize "$NORMALIZE" --overwrite \
  --title "longbench-suite: SmolLM2-135M-Instruct (embedded, vLLM on CPU) and baselines"
echo "done in $((SECONDS - started)) s: $OUT/index.html, $OUT/README.md" >&2
