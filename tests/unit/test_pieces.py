"""Piece files: a task's framed records laid out so each shard's share is one byte range."""

from __future__ import annotations

import random

import pytest

from cxrpipe import storage
from cxrpipe.shards.pieces import PieceBuilder, PieceFile, entries, plan_reads, shard_ranges
from cxrpipe.shards.writer import ShardContext, write_shard
from cxrpipe.shards.plan import Shard, shard_of_key
from cxrpipe.tfrecord import frame, iter_records

PARTITIONS = (("train", "A"), ("train", "B"))


def records(n: int, partitions=PARTITIONS, seed: int = 0) -> list[tuple]:
    """n (partition, key, augmentation, framed record) in no particular order."""
    rng = random.Random(seed)
    return [(partitions[i % len(partitions)], rng.randbytes(16), rng.choice(["none", "hflip", "hvflip"]),
             frame(f"record {seed}.{i} ".encode() * rng.randint(1, 30))) for i in range(n)]


def encoded(rows) -> tuple[bytes, dict]:
    builder = PieceBuilder()
    for row in rows:
        builder.add(*row)
    return builder.encode()


def test_a_piece_holds_each_partition_sorted_by_key():
    rows = records(60)
    data, layout = encoded(rows)
    assert set(layout) == set(PARTITIONS)
    for partition, index in layout.items():
        mine = sorted((key, aug, framed) for p, key, aug, framed in rows if p == partition)
        start = index.start
        block = data[start:int(index.ends[-1])]
        found = entries(block, start)
        assert [(k, a) for k, _, _, a in found] == [(k, a) for k, a, _ in mine]
        assert [data[o:o + n] for _, o, n, _ in found] == [f for _, _, f in mine]
        assert list(index.prefixes) == [int.from_bytes(k[:8], "big") for k, _, _ in mine]


@pytest.mark.parametrize("n_shards", [1, 2, 3, 7, 50, 5000])
def test_each_shards_records_are_one_range_of_the_piece(n_shards):
    rows = records(200, partitions=(("val", "C"),))
    data, layout = encoded(rows)
    ranges = shard_ranges(layout[("val", "C")], n_shards)
    seen = []
    for shard, start, end in ranges:
        keys = [k for k, _, _, _ in entries(data[start:end], start)]
        assert all(shard_of_key(k, n_shards) == shard for k in keys)
        seen.extend(keys)
    assert sorted(seen) == sorted(k for _, k, _, _ in rows)
    assert len({s for s, _, _ in ranges}) == len(ranges)


def test_read_plan_gives_every_shard_all_its_records_from_every_piece(tmp_path):
    shards = [Shard("train", "A", i, 3) for i in range(3)] + [Shard("train", "B", 0, 1)]
    pieces, rows = [], []
    for task in range(4):
        mine = records(40, seed=task)
        data, layout = encoded(mine)
        path = tmp_path / f"part-{task}.bin"
        path.write_bytes(data)
        pieces.append(PieceFile(str(path), layout))
        rows.extend(mine)
    reads = plan_reads(shards, pieces)
    for shard, ranges in zip(shards, reads):
        got = sorted(k for uri, start, end in ranges
                     for k, _, _, _ in entries(storage.read_range(uri, start, end, storage.StorageConfig()), 0))
        want = sorted(k for p, k, _, _ in rows
                      if p == (shard.split, shard.partition) and shard_of_key(k, shard.count) == shard.index)
        assert got == want and got


def test_write_shard_merges_ranges_in_key_order(tmp_path):
    ctx = ShardContext(str(tmp_path), str(tmp_path), storage.StorageConfig(), ("A", "B"), "nih", 299)
    ranges, rows = [], []
    for task in range(4):  # four tasks' pieces with interleaved keys
        mine = records(25, partitions=(("train", "A"),), seed=task)
        data, layout = encoded(mine)
        path = tmp_path / f"piece-{task}.bin"
        path.write_bytes(data)
        ranges += [(str(path), start, end) for _, start, end in shard_ranges(layout[("train", "A")], 1)]
        rows.extend(mine)
    shard = Shard("train", "A", 0, 1)
    entry = write_shard(shard, ranges, ctx)
    data = (tmp_path / shard.path).read_bytes()
    assert data == b"".join(f for _, _, _, f in sorted(rows, key=lambda r: r[1]))
    assert len(list(iter_records(data))) == entry["records"] == 100 and entry["bytes"] == len(data)
    assert entry["augmentations"] == {a: n for a in ("hflip", "hvflip", "none")
                                      if (n := sum(r[2] == a for r in rows))}


def test_write_shard_without_ranges_writes_an_empty_file(tmp_path):
    ctx = ShardContext(str(tmp_path), str(tmp_path), storage.StorageConfig(), ("A",), "nih", 299)
    entry = write_shard(Shard("test", "A", 2, 3), [], ctx)
    assert (tmp_path / entry["path"]).read_bytes() == b"" and entry["records"] == 0


def test_a_cut_entry_is_an_error_not_a_short_shard():
    data, _ = encoded(records(3, partitions=(("train", "A"),)))
    with pytest.raises(ValueError, match="ends inside"):
        entries(data[:-5], 0)
    with pytest.raises(ValueError, match="ends inside"):
        entries(data + data[:10], 0)


def test_keys_must_be_sixteen_bytes():
    with pytest.raises(ValueError, match="16 bytes"):
        PieceBuilder().add(("train", "A"), b"short", "none", frame(b"x"))


def test_pieces_are_deleted_and_cleanup_trouble_never_hides_the_jobs_own_error(tmp_path, monkeypatch, caplog):
    from cxrpipe.spark.shards import pieces_folder

    ctx = ShardContext(str(tmp_path), str(tmp_path), storage.StorageConfig(), ("A",), "nih", 299)
    with pieces_folder(ctx):
        (tmp_path / "_pieces").mkdir()
        (tmp_path / "_pieces" / "part-00000.bin").write_bytes(b"x")
    assert not (tmp_path / "_pieces").exists()

    def broken(uri, config):
        raise OSError("storage is down")

    monkeypatch.setattr(storage, "delete_all", broken)
    with pytest.raises(RuntimeError, match="the job's own error"), pieces_folder(ctx):
        raise RuntimeError("the job's own error")
    with pieces_folder(ctx):  # a finished job stays finished
        pass
    assert "storage is down" in caplog.text


def test_a_damaged_piece_fails_the_shard_and_publishes_nothing(tmp_path):
    from cxrpipe.tfrecord import CorruptRecord

    ctx = ShardContext(str(tmp_path), str(tmp_path), storage.StorageConfig(), ("A",), "nih", 299)
    data, layout = encoded(records(10, partitions=(("train", "A"),)))
    damaged = bytearray(data)
    _, offset, _, _ = entries(data, 0)[3]
    damaged[offset + 12] ^= 1  # the fourth record's first payload byte (after length and its CRC)
    path = tmp_path / "piece.bin"
    path.write_bytes(bytes(damaged))
    shard = Shard("train", "A", 0, 1)
    ranges = [(str(path), start, end) for _, start, end in shard_ranges(layout[("train", "A")], 1)]
    with pytest.raises(CorruptRecord):
        write_shard(shard, ranges, ctx)
    assert not (tmp_path / shard.path).exists()
