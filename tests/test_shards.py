"""Selecting and sharding the certified images, and gathering the shards."""
import pytest

from linf_smoothing.shards import gather_certifications, selected_images, shard_images

HEADER = "idx\tlabel\tpredict\tradius\tcorrect\ttime\n"


def test_selection_takes_every_skip_th_image_up_to_max():
    assert selected_images(10, 3) == [0, 3, 6, 9]
    assert selected_images(10, 3, 2) == [0, 3]


@pytest.mark.parametrize("count,shards", [(10, 1), (10, 3), (7, 7), (3, 5), (0, 2)])
def test_shards_partition_the_selection_in_order(count, shards):
    indices = selected_images(3 * count, 3)
    parts = [shard_images(indices, shard, shards) for shard in range(shards)]
    assert sum(parts, []) == indices
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


@pytest.mark.parametrize("shard,shards", [(2, 2), (-1, 2), (0, 0)])
def test_a_shard_outside_the_count_is_an_error(shard, shards):
    with pytest.raises(ValueError, match="shard"):
        shard_images([0, 1, 2], shard, shards)


def write(path, *idx):
    path.write_text(HEADER + "".join(f"{i}\t1\t1\t0.1\t1\t0.5\n" for i in idx))
    return path


def test_gather_keeps_one_header_and_the_rows_byte_for_byte(tmp_path):
    paths = [write(tmp_path / "a.tsv", 0, 3), write(tmp_path / "b.tsv"), write(tmp_path / "c.tsv", 6)]
    out = tmp_path / "out" / "all.tsv"
    assert gather_certifications(paths, out) == 3
    assert out.read_text() == HEADER + "0\t1\t1\t0.1\t1\t0.5\n3\t1\t1\t0.1\t1\t0.5\n6\t1\t1\t0.1\t1\t0.5\n"


def test_gather_refuses_shards_out_of_order_or_repeated(tmp_path):
    a, b = write(tmp_path / "a.tsv", 0, 3), write(tmp_path / "b.tsv", 6)
    out = tmp_path / "all.tsv"
    for paths in ([b, a], [a, a]):
        with pytest.raises(ValueError, match="in order, each once"):
            gather_certifications(paths, out)
    assert not out.exists()


def test_gather_refuses_shards_of_different_formats(tmp_path):
    a = write(tmp_path / "a.tsv", 0)
    b = tmp_path / "b.tsv"
    b.write_text("idx\tlabel\n3\t1\n")
    with pytest.raises(ValueError, match="different runs"):
        gather_certifications([a, b], tmp_path / "all.tsv")


def described_shards(tmp_path, count=10, skip=3, shards=2):
    """Shards of an experiment certifying every skip-th of ``count`` test images, with descriptions."""
    from linf_smoothing.results import write_description

    paths = []
    for shard in range(shards):
        indices = shard_images(selected_images(count, skip), shard, shards)
        path = write(tmp_path / f"{shard}-of-{shards}.tsv", *indices)
        write_description(path, {"sigma": 0.25, "test_images": count, "skip": skip, "max_images": None,
                                 "shard": shard, "shards": shards})
        paths.append(path)
    return paths


def test_gather_keeps_the_shards_description(tmp_path):
    import json

    paths = described_shards(tmp_path)
    assert gather_certifications(paths, tmp_path / "all.tsv") == 4
    description = json.loads((tmp_path / "all.tsv.json").read_text())
    assert description["shards"] == 2 and "shard" not in description


@pytest.mark.parametrize("damage, message", [
    (lambda text: text[:text.rindex("9\t1\t1")], r"1-of-2.tsv: it holds 1 rows where its images are 2"),
    (lambda text: text[:-4], r"1-of-2.tsv: row 2 is cut short"),
    (lambda text: text.replace("\t0.5\n", "\n", 1), r"1-of-2.tsv: row 1 has 5 fields where the header has 6"),
    (lambda text: text.replace("9\t1", "8\t1"), r"1-of-2.tsv, row 2: image 8 where this shard's row 2 is image 9"),
])
def test_gather_refuses_a_damaged_shard_naming_file_and_row(tmp_path, damage, message):
    paths = described_shards(tmp_path)
    paths[1].write_text(damage(paths[1].read_text()))
    with pytest.raises(ValueError, match=message):
        gather_certifications(paths, tmp_path / "all.tsv")
    assert not (tmp_path / "all.tsv").exists()


def test_gather_refuses_shards_of_other_runs_or_out_of_place(tmp_path):
    from linf_smoothing.results import write_description

    paths = described_shards(tmp_path)
    with pytest.raises(ValueError, match="is shard 1, given as shard 0"):
        gather_certifications(paths[::-1], tmp_path / "all.tsv")
    write_description(paths[1], {"sigma": 0.5, "test_images": 10, "skip": 3, "max_images": None, "shard": 1,
                                 "shards": 2})
    with pytest.raises(ValueError, match="descriptions differ"):
        gather_certifications(paths, tmp_path / "all.tsv")
