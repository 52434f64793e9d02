"""Multi-DC settings against the real Cassandra: the keyspace is created with NetworkTopologyStrategy
and the configured per-DC factor, the driver pinned to CASSANDRA_LOCAL_DC reads and writes, and a
CASSANDRA_LOCAL_DC the cluster does not have is refused with one line naming the DCs it has."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core import cassandra as cassandra_db
from core.errors import ConfigError
from tests.helpers import own_topic_and_keyspace


def _data_centre(settings) -> str:
    session = cassandra_db.connect(settings)
    try:
        return session.execute("SELECT data_center FROM system.local").one()["data_center"]
    finally:
        cassandra_db.close(session)


def test_keyspace_uses_network_topology_with_per_dc_factor_and_the_local_dc_reads_and_writes(services):
    dc = _data_centre(services)
    replication = f"{{'class': 'NetworkTopologyStrategy', '{dc}': 1}}"
    with own_topic_and_keyspace(services, "dc", cassandra_local_dc=dc, cassandra_replication=replication) as settings:
        session = cassandra_db.connect(settings, keyspace=settings.cassandra.keyspace)
        try:
            row = session.execute(session.prepare("SELECT replication FROM system_schema.keyspaces "
                                                  "WHERE keyspace_name = ?"), (settings.cassandra.keyspace,)).one()
            assert row["replication"] == {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", dc: "1"}
            stamp = datetime(2026, 3, 10, 14, 30, 1, tzinfo=UTC)
            session.execute(session.prepare("INSERT INTO latest_prices (symbol, price, volume, trade_timestamp) "
                                            "VALUES (?, ?, ?, ?)"), ("AAPL", 201.25, 3.0, stamp))
            stored = session.execute(session.prepare("SELECT price, volume, trade_timestamp FROM latest_prices "
                                                     "WHERE symbol = ?"), ("AAPL",)).one()
            assert stored == {"price": 201.25, "volume": 3.0, "trade_timestamp": stamp.replace(tzinfo=None)}
            # every request went to a host of the local DC
            assert {h.datacenter for h in session.cluster.metadata.all_hosts()} == {dc}
        finally:
            cassandra_db.close(session)


def test_a_local_dc_the_cluster_does_not_have_is_refused_with_one_line_naming_its_dcs(services):
    dc = _data_centre(services)
    with pytest.raises(ConfigError) as refused:
        cassandra_db.connect(services.replace(cassandra_local_dc="dc-nowhere"), timeout_s=20)
    message = str(refused.value)
    assert message == (f"CASSANDRA_LOCAL_DC='dc-nowhere' is not a data centre of the Cassandra cluster at "
                       f"{','.join(services.cassandra.hosts)}:{services.cassandra.port} (its data centres: {dc})")
