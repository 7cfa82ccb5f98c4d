"""The Arrow schemas of every table: the contract between stages, written down once.

dataset dir: episodes.parquet, probes.parquet, manifest.json
run dir:     predictions.parquet, scores.parquet, aggregates.parquet, run.json (+ journal.jsonl while running),
             prompts.parquet + contexts.parquet (the sample log, unless --no-log-samples)
"""

from __future__ import annotations

import pyarrow as pa

TURN = pa.struct([("role", pa.string()), ("content", pa.string()), ("has_answer", pa.bool_())])
SESSION = pa.struct([("session_id", pa.string()), ("date", pa.string()), ("turns", pa.list_(TURN))])

# An episode is what the system must remember: a plain text (documents, a haystack) and/or dated
# chat sessions. `meta` holds family-specific facts as a JSON object string, so the schema never
# changes when a family is added.
EPISODES = pa.schema(
    [
        ("episode_id", pa.string()),
        ("family", pa.string()),
        ("variant", pa.string()),
        ("length", pa.int64()),  # requested length (tokens of the dataset's tokenizer; words for word-based families)
        ("n_tokens", pa.int64()),  # counted length of the rendered context
        ("text", pa.string()),
        ("sessions", pa.list_(SESSION)),
        ("meta", pa.string()),
    ]
)

# A probe is one question asked after the episode was ingested.
PROBES = pa.schema(
    [
        ("probe_id", pa.string()),
        ("episode_id", pa.string()),
        ("family", pa.string()),
        ("variant", pa.string()),
        ("ability", pa.string()),
        ("length", pa.int64()),
        ("depth", pa.float64()),  # percent of the context before the evidence; null when meaningless
        ("bin", pa.string()),  # a family's own group within a length (SORT's distance bin); null when none
        ("question", pa.string()),
        ("answer_prefix", pa.string()),  # completion cue appended after the question
        ("gold", pa.list_(pa.string())),
        ("choices", pa.list_(pa.string())),  # candidate answers (multiple choice, and the random baseline's pool)
        ("metric", pa.string()),  # name of the primary metric in longbench_suite.metrics
        ("chance", pa.float64()),  # expected primary metric of a uniform guess among `choices`
        ("max_new_tokens", pa.int64()),  # answer budget
        ("meta", pa.string()),
    ]
)

CHOICE_LOGPROB = pa.struct([("choice", pa.string()), ("logprob", pa.float64())])

PREDICTIONS = pa.schema(
    [
        ("run_id", pa.string()),
        ("system", pa.string()),
        ("condition", pa.string()),
        ("episode_id", pa.string()),
        ("probe_id", pa.string()),
        ("output", pa.string()),
        ("choice_logprobs", pa.list_(CHOICE_LOGPROB)),
        ("retrieved_ids", pa.list_(pa.string())),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("latency_s", pa.float64()),
        ("cache_hit", pa.bool_()),
        ("error", pa.string()),
        # of prompt_tokens, those the server's prefix cache held (KV reuse across turns and requests); null
        # when the system does not say. Added later: an older run's table reads with it null (OPTIONAL).
        ("cached_tokens", pa.int64()),
    ]
)

SCORES = pa.schema(
    [
        ("run_id", pa.string()),
        ("system", pa.string()),
        ("condition", pa.string()),
        ("probe_id", pa.string()),
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("judge", pa.string()),
    ]
)

# An LLM judge's verdict on one prediction (LongMemEval's answer check): kept beside the scores so a
# re-score keeps them and a person can read why a response was judged so.
JUDGMENTS = pa.schema(
    [
        ("run_id", pa.string()),
        ("probe_id", pa.string()),
        ("judge", pa.string()),  # the judge's identity as JSON: spec, model (and version), template set, template
        ("template", pa.string()),
        ("response_sha", pa.string()),  # sha256 of the output judged: a changed output is judged again
        ("reply", pa.string()),
        ("label", pa.bool_()),  # "yes" in the reply; null when the judge failed
        ("error", pa.string()),
    ]
)

# The sample log of a run (longbench_suite/samples.py): what each probe was asked, as the system got it.
# A context (an episode's text, or the span a family puts in the prompt) is kept once in CONTEXTS and
# named by its digest; a prompt's first message then leaves it out (it began with the context and a
# blank line), so 100 probes on one 128k-token episode store its text once.
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
PROMPTS = pa.schema(
    [
        ("probe_id", pa.string()),
        ("episode_id", pa.string()),
        ("format", pa.string()),  # chat | completions (role "prompt") | probe (the system builds its own prompt from it)
        ("context_id", pa.string()),  # CONTEXTS row whose text (+ "\n\n") precedes the first message; null: none
        ("messages", pa.list_(MESSAGE)),
    ]
)
CONTEXTS = pa.schema([("context_id", pa.string()), ("text", pa.string())])

# One row per group; a null grouping column means "all values" (a marginal row).
AGGREGATES = pa.schema(
    [
        ("system", pa.string()),
        ("condition", pa.string()),
        ("family", pa.string()),
        ("variant", pa.string()),
        ("ability", pa.string()),
        ("length", pa.int64()),
        ("depth", pa.float64()),
        ("bin", pa.string()),
        ("metric", pa.string()),
        ("primary", pa.bool_()),  # the probes' own metric (the headline), vs secondary metrics
        ("n", pa.int64()),  # probes scored: answered ones (a failed prediction is counted in n_errors instead)
        ("mean", pa.float64()),  # null when no probe of the group was answered
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("ci_method", pa.string()),
        ("n_errors", pa.int64()),  # probes of the group whose prediction failed: left out of n, mean and CI
        ("chance", pa.float64()),  # mean `chance` of the scored probes (primary metric rows; null for secondary ones)
    ]
)
# Columns added to AGGREGATES after runs were published: an older table reads with them null.
AGGREGATES_ADDED = ("n_errors", "chance")


# Keys every run.json has (values are JSON).
RUN_MANIFEST_KEYS = (
    "run_id",
    "status",  # running | complete | partial | aborted | interrupted (runners/local.py EXIT_CODES)
    "system",  # system spec and description, secrets removed
    "condition",
    "sampling",
    "dataset",  # path, content hash, family/variant, counts
    "seed",
    "versions",  # package versions
    "git",
    "started_at",
    "finished_at",
    "timings",
    "counts",
)

# Keys every dataset manifest.json has.
DATASET_MANIFEST_KEYS = (
    "family",
    "variants",
    "params",
    "seed",
    "generator_version",
    "tokenizer",
    "counts",
    "content_hash",
    "suite_version",
)


class TableBuilder:
    """Collects rows column-wise (plain lists, no per-row objects) and builds a table of `schema`."""

    def __init__(self, schema: pa.Schema):
        self.schema = schema
        self.columns: dict[str, list] = {name: [] for name in schema.names}

    def add(self, **row) -> None:
        if row.keys() != self.columns.keys():
            wrong = set(row) ^ set(self.columns)
            raise ValueError(f"row does not match the schema: {', '.join(sorted(wrong))}")
        for name, value in row.items():
            self.columns[name].append(value)

    def table(self) -> pa.Table:
        return pa.Table.from_arrays([pa.array(self.columns[f.name], type=f.type) for f in self.schema], schema=self.schema)


def empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


# Columns added to a table after runs were written with it: a table without one reads with it null.
OPTIONAL = {"cached_tokens"}


def conform(table: pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    """Select and cast `table` to `schema`; raise ValueError naming the missing columns."""
    for f in schema:
        if f.name in OPTIONAL and f.name not in table.column_names:
            table = table.append_column(f, pa.nulls(table.num_rows, f.type))
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise ValueError(f"{what}: missing columns {', '.join(missing)}")
    return table.select(schema.names).cast(schema)
