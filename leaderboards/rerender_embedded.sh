#!/usr/bin/env bash
# Re-renders leaderboards/embedded/ from what it stores (its raw aggregates, table and manifest) with
# another normalisation, without running any model: `lbs leaderboard rerender` needs only the boards'
# datasets for their chance levels. They are regenerated here with the parameters of build_embedded.sh
# by the code of the commit that built the board (the generators changed since), and their content
# hashes are checked against the board's.
#
#   bash leaderboards/rerender_embedded.sh          in place (chance normalisation)
#
# Environment (all optional):
#   BOARD_COMMIT=REV        the commit whose generators made the board's datasets (default 406dc82)
#   LEADERBOARD_OUT=DIR     where the board goes (default: in place, leaderboards/embedded)
#   LEADERBOARD_NORMALIZE=MODE  none, chance (default) or ref:SYSTEM
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=$(pwd)/.venv/bin/python
COMMIT=${BOARD_COMMIT:-406dc82}
BOARD=leaderboards/embedded
OUT=${LEADERBOARD_OUT:-$BOARD}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/src"
git archive "$COMMIT" | tar -x -C "$WORK/src"
gen() { (cd "$WORK/src" && PYTHONPATH="$WORK/src" "$PY" -m longbench_suite.cli generate "$@" --tokenizer embedded --seed 0 --overwrite); }
D=$WORK/data
gen needle -o "$D/needle" -v single_1 -v single_2 -v multikey_1 -p lengths=512,1k,1536 -p depths=0,50,100 -p samples=1 -p max_new_tokens=32
gen sort -o "$D/sort" -v ls20 -p lengths=250,1000 -p books=1 -p book_words=4000 -p excerpts=4 -p heldout=0
gen joint-recall -o "$D/joint-recall" -v words -p lengths=512,1536 -p n_ctx=1,4 -p n_queries=4 -p samples=2
gen longmemeval -o "$D/longmemeval" -v oracle -v haystack -p samples=2 -p abstention=1 -p lengths=1536 -p max_new_tokens=32
gen m4le -o "$D/m4le" -v classification -v qa -v retrieval -v summarization -p buckets=1536 -p samples=1 -p unit=tokens -p articles=120 -p max_new_tokens=48
args=()
for f in needle sort joint-recall longmemeval m4le; do args+=(-d "$f=$D/$f"); done
"$PY" -m longbench_suite.cli leaderboard rerender "$BOARD" "${args[@]}" -o "$OUT" --normalize "${LEADERBOARD_NORMALIZE:-chance}" --overwrite
