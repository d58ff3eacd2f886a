"""harness.fixtures.long_first: the tests marked `long` head the shares pytest-xdist's worksteal hands out."""

from __future__ import annotations

from dataclasses import dataclass

from harness.fixtures import long_first


@dataclass
class Item:
    name: str
    long: bool = False

    def get_closest_marker(self, name: str) -> object:
        return True if name == "long" and self.long else None


def shares(items: list, workers: int) -> list[list]:
    """worksteal's first split: each idle worker gets len(pending) // workers_remaining, in order."""
    out, pending = [], list(items)
    for k in range(workers):
        n = len(pending) // (workers - k)
        out.append(pending[:n])
        pending = pending[n:]
    return out


def test_each_long_test_heads_a_share_of_its_own_and_nothing_is_lost_or_repeated():
    items = [Item(f"t{n}", long=n in (7, 20, 33)) for n in range(41)]
    ordered = long_first(items, 4)
    assert sorted(i.name for i in ordered) == sorted(i.name for i in items)
    heads = [share[0].name for share in shares(ordered, 4)]
    assert heads == ["t7", "t20", "t33", "t29"]  # the fourth share starts with an unmarked test
    assert [i.name for i in ordered if not i.long] == [i.name for i in items if not i.long]  # the rest keep their order


def test_more_long_tests_than_workers_come_second_in_the_shares():
    items = [Item(f"t{n}", long=n < 6) for n in range(12)]
    ordered = long_first(items, 4)
    assert [share[0].name for share in shares(ordered, 4)] == ["t0", "t1", "t2", "t3"]
    assert [share[1].name for share in shares(ordered, 4)][:2] == ["t4", "t5"]
    assert len({id(i) for i in ordered}) == 12


def test_without_xdist_or_long_tests_the_order_is_the_collections():
    items = [Item(f"t{n}") for n in range(5)]
    assert long_first(items, 4) == items
    marked = [Item("a"), Item("b", long=True)]
    assert [i.name for i in long_first(marked, 1)] == ["b", "a"]
