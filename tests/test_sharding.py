"""`--shard K/N`: deterministic, complete, never splits a spec, balanced by training cost."""

import pytest
from _support import run_pytest

from harness.sharding import assign, parse_shard, training_cost
from harness.specs import default_specs_dir, discover, load_spec

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

SPECS = [load_spec(p) for p in discover(default_specs_dir())]


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_every_spec_lands_on_exactly_one_shard(count):
    shards = assign(SPECS, count)
    assert sorted(shards) == sorted(s.id for s in SPECS)
    assert set(shards.values()) <= set(range(1, count + 1))


def test_the_assignment_does_not_depend_on_discovery_order():
    assert assign(SPECS, 3) == assign(list(reversed(SPECS)), 3)


@pytest.mark.parametrize("count", [2, 3, 4])
def test_shards_are_balanced_by_training_cost(count):
    shards = assign(SPECS, count)
    costs = {s.id: training_cost(s) for s in SPECS}
    loads = [sum(c for sid, c in costs.items() if shards[sid] == k) for k in range(1, count + 1)]
    # greedy longest-first: no shard exceeds the even share by more than the largest single spec
    assert max(loads) <= sum(loads) / count + max(costs.values())


def test_a_longer_or_wider_recipe_costs_more():
    by_id = {s.id: s for s in SPECS}
    assert training_cost(by_id["sub20k/iteration9"]) > training_cost(by_id["sub25k-1ep/iteration9"])  # 20 vs 1 epoch
    assert training_cost(by_id["sub25k-1ep/iteration1"]) > training_cost(by_id["sub25k-1ep/iteration5"])  # 593k vs 26k


@pytest.mark.parametrize("text, expected", [("1/1", (1, 1)), ("2/4", (2, 4)), (" 3/3 ", (3, 3))])
def test_parse_shard(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", "-1/2"])
def test_a_bad_shard_is_refused(text):
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


def _claim_specs(*args):
    result = run_pytest("--collect-only", "-q", "--reproduce", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    ids = [line.split("[", 1)[1].rstrip("]") for line in result.stdout.splitlines() if "test_claim[" in line]
    return {i.split(":")[0] for i in ids}


def test_two_shards_split_the_specs_and_keep_each_spec_whole():
    everything = _claim_specs()
    first, second = _claim_specs("--shard", "1/2"), _claim_specs("--shard", "2/2")
    assert first and second and not first & second
    assert first | second == everything


def test_a_bad_shard_is_a_usage_error():
    result = run_pytest("--collect-only", "-q", "--shard", "3/2")
    assert result.returncode == 4 and "K must be between 1 and N" in result.stderr
