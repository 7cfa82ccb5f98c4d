#!/usr/bin/env bash
# Rebuilds leaderboards/memory-architectures/: every family (a smaller cut of the embedded board's
# datasets, leaderboards/lib.sh) in the in-memory condition for each memory architecture of the suite, read by the
# embedded model (SmolLM2-135M-Instruct), beside full context, no context, retrieval and the baselines:
#
#   retrieval:R          BM25 over sessions or chunks            (adapters/retrieval.py)
#   summary:R            a rolling summary rewritten per session  (adapters/summary_memory.py)
#   facts:R              a fact store with add/update/delete       (adapters/facts_memory.py)
#   graph:R              entities and relations, personalised PageRank (adapters/graph_memory.py)
#   finetune:hf:M        LoRA on the episode, answers from the weights (adapters/finetune.py)
#   kv:hf:M, kv[policy=sinks], kv[policy=quant]   the episode's KV cache kept (adapters/kv_cache.py)
#
# R is the embedded model served by vLLM (one server for every run), M its transformers folder (the same
# weights, run in-process: parametric and KV-cache memories need the model's internals). mem0 is not on
# the board: its extraction prompt alone is ~8.5k tokens, four times the embedded model's window (README).
# Every run records its costs (run.json `costs`): the board's cost/* columns.
#
#   bash leaderboards/build_memory_architectures.sh      about an hour on 2 CPU cores (3,542 s measured)
#
# Environment (all optional): LEADERBOARD_OUT=DIR (default leaderboards/memory-architectures),
# LEADERBOARD_WORK=DIR (default build/leaderboard-memory), MEMORY_SYSTEMS="summary facts ..." (a subset),
# LBS=COMMAND.
set -euo pipefail
cd "$(dirname "$0")/.."
source leaderboards/lib.sh
WORK=${LEADERBOARD_WORK:-build/leaderboard-memory}
OUT=${LEADERBOARD_OUT:-leaderboards/memory-architectures}
SYSTEMS=(${MEMORY_SYSTEMS:-full-context no-context retrieval summary facts graph finetune kv-full kv-sinks kv-quant})
started=$SECONDS

make_datasets "$WORK" small
serve_embedded "$WORK"
MODEL=$("$PY" -c 'from runners.embedded_model import ensure_model; print(ensure_model())')

echo "== runs -> $WORK/runs" >&2
for family in "${FAMILIES[@]}"; do
  R="embedded,base_url=$URL"
  [ "$family" = sort ] && R="$R,logprobs=1"  # SORT is scored by first-token log-probabilities, as the paper
  run "$WORK" "$family" oracle oracle
  run "$WORK" "$family" random random
  for name in "${SYSTEMS[@]}"; do
    case $name in
      full-context) run "$WORK" "$family" "$name" "$R" ;;
      no-context) run "$WORK" "$family" "$name" "no-context:$R" ;;
      retrieval|summary|facts|graph) run "$WORK" "$family" "$name" "$name:$R" --condition in-memory ;;
      # 4 steps of one 512-token chunk: 2k tokens trained per episode (each context is at most 1.5k);
      # 8 steps took ~1.5 min an episode on 2 busy CPU cores
      finetune) run "$WORK" "$family" "$name" "finetune[steps=4,batch=1,chunk_tokens=512]:hf:$MODEL" --condition in-memory ;;
      kv-full) run "$WORK" "$family" "$name" "kv:hf:$MODEL" --condition in-memory ;;
      kv-sinks) run "$WORK" "$family" "$name" "kv[policy=sinks,sink=4,window=508]:hf:$MODEL" --condition in-memory ;;
      kv-quant) run "$WORK" "$family" "$name" "kv[policy=quant,bits=4]:hf:$MODEL" --condition in-memory ;;
      *) echo "unknown memory system $name" >&2; exit 2 ;;
    esac
  done
done

echo "== leaderboard -> $OUT" >&2
lbs leaderboard build "${RUNS[@]}" -o "$OUT" --normalize chance --overwrite \
  --title "longbench-suite: memory architectures on SmolLM2-135M-Instruct (CPU), in-memory, beside full context"
echo "done in $((SECONDS - started)) s: $OUT/index.html, $OUT/README.md" >&2
