"""Selecting and sharding the certified images (gathering them: tests/test_checks.py)."""
import pytest

from linf_smoothing.shards import selected_images, shard_images


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
