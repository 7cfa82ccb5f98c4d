"""The dataset content hash: a hash of the rows, not of how they were chunked or which library wrote them."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from longbench_suite import io, schemas
from longbench_suite.errors import UserError


def _episodes(n: int) -> list[dict]:
    turns = lambda k: [{"role": "user", "content": "c" * k, "has_answer": None if k % 2 else True} for _ in range(k % 3)]
    return [dict(episode_id=f"e{i}", family="f", variant=None if i % 3 else "v", length=None if i % 2 else 5,
                 n_tokens=i, text="x" * (i % 7),
                 sessions=None if i % 4 == 0 else [dict(session_id=f"s{j}", date="d", turns=turns(i + j)) for j in range(i % 3)],
                 meta="{}") for i in range(n)]


def test_hash_ignores_chunking_streaming_and_the_parquet_writer(tmp_path):
    rows = _episodes(203)
    probes = schemas.PROBES.empty_table()
    whole = pa.Table.from_pylist(rows, schema=schemas.EPISODES)
    chunked = pa.concat_tables([pa.Table.from_pylist(rows[i:i + 37], schema=schemas.EPISODES) for i in range(0, 203, 37)])
    pq.write_table(whole, tmp_path / "e.parquet", row_group_size=50)
    read_back = io.read_parquet(tmp_path / "e.parquet", schemas.EPISODES, "e")
    streamed = io.ContentHasher()
    streamed.begin(schemas.EPISODES, io.HASH_ROW_GROUP["episodes"])
    for i in range(0, 203, 13):
        streamed.feed(pa.Table.from_pylist(rows[i:i + 13], schema=schemas.EPISODES))
    streamed.begin(schemas.PROBES, io.HASH_ROW_GROUP["probes"])
    streamed.feed(probes)
    hashes = {io.table_hash(whole, probes), io.table_hash(chunked, probes), io.table_hash(read_back, probes), streamed.hexdigest()}
    assert len(hashes) == 1
    assert io.table_hash(whole.slice(1), probes) not in hashes  # and it does see the rows
    changed = [dict(r) for r in rows]
    changed[100]["text"] += "!"
    assert io.table_hash(pa.Table.from_pylist(changed, schema=schemas.EPISODES), probes) not in hashes


def test_hash_ignores_chunking_of_texts_longer_than_a_page():
    """Row groups of several MB span many data pages; where the pieces were cut must not move the page breaks."""
    rows = [dict(episode_id=f"e{i}", family="f", variant="v", length=1, n_tokens=1, text=f"{i} " * 150_000, sessions=None,
                 meta="{}") for i in range(20)]
    whole = pa.Table.from_pylist(rows, schema=schemas.EPISODES)
    probes = schemas.PROBES.empty_table()
    cut = pa.concat_tables([whole.slice(0, 7), whole.slice(7, 5), whole.slice(12)])
    assert io.table_hash(cut, probes) == io.table_hash(whole, probes)


def test_manifest_records_the_scheme_and_an_older_dataset_is_named_as_such(tmp_path):
    manifest = io.write_dataset(tmp_path / "d", pa.Table.from_pylist(_episodes(5), schema=schemas.EPISODES),
                                schemas.PROBES.empty_table(), {"family": "f"})
    assert manifest["hash_scheme"] == io.HASH_SCHEME
    io.Dataset(tmp_path / "d").verify()
    path = tmp_path / "d" / "manifest.json"
    old = json.loads(path.read_text())
    del old["hash_scheme"]
    path.write_text(json.dumps(old))
    with pytest.raises(UserError, match="older lbs"):
        io.Dataset(tmp_path / "d").verify()


def test_scheme_2_hashes_the_manifest_meaning_and_scheme_1_keeps_its_table_hash(tmp_path):
    """Scheme 2 = the tables' hash continued with the manifest's meaning; the writing release is not part
    of it. A scheme-1 manifest (the tables' hash alone, as runs and boards recorded it) still verifies."""
    episodes = pa.Table.from_pylist(_episodes(9), schema=schemas.EPISODES)
    probes = schemas.PROBES.empty_table()
    manifest = io.write_dataset(tmp_path / "d", episodes, probes, {"family": "f", "params": {"n": 1}, "suite_version": "1"})
    assert manifest["content_hash"] == io.table_hash(episodes, probes, manifest) != io.table_hash(episodes, probes)
    for change in ({"params": {"n": 2}}, {"family": "g"}, {"variants": ["v"]}, {"generator_version": "2"}):
        assert io.table_hash(episodes, probes, {**manifest, **change}) != manifest["content_hash"], change
    assert io.table_hash(episodes, probes, {**manifest, "suite_version": "2"}) == manifest["content_hash"]
    path = tmp_path / "d" / "manifest.json"
    old = {**json.loads(path.read_text()), "hash_scheme": io.TABLES_ONLY_SCHEME, "content_hash": io.table_hash(episodes, probes)}
    path.write_text(json.dumps(old))
    io.Dataset(tmp_path / "d").verify()
    path.write_text(json.dumps({**old, "content_hash": "sha256:" + "0" * 64}))
    with pytest.raises(UserError, match="modified after generation"):
        io.Dataset(tmp_path / "d").verify()
