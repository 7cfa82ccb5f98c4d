"""Every generator writes the same bytes as when tests/data/content_hashes.json was recorded: the default
dataset of every family (content hash, scheme 2) and the builders' own outputs over many seeds."""

from __future__ import annotations

import json

from content_stability import EXPECTED, current


def test_datasets_and_builders_write_the_recorded_content():
    expected = json.loads(EXPECTED.read_text())
    got = current()
    assert sorted(got) == sorted(expected)
    changed = {k: (expected[k][:19], got[k][:19]) for k in expected if got[k] != expected[k]}
    assert not changed, f"content changed (refresh only with a generator version bump): {changed}"
