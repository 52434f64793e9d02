"""The KRaft cluster id tickplant generates for the local Kafka."""

from __future__ import annotations


def test_kafka_cluster_ids_never_start_with_a_dash():
    # one id in 64 used to start with "-": the storage format then refused it as an unknown flag
    from tickplant.runtime.kafka import new_cluster_id

    ids = [new_cluster_id() for _ in range(2000)]
    assert all(len(i) == 22 and not i.startswith("-") for i in ids) and len(set(ids)) == 2000
