"""Mutual TLS with a private Cassandra that requires client certificates: the driver and the Spark
Cassandra Connector (a PKCS12 keystore made at run time from CASSANDRA_SSL_CERTFILE and
CASSANDRA_SSL_KEYFILE) present the client certificate; a client without one is refused."""

from __future__ import annotations

import pytest

from core import cassandra as cassandra_db
from core.errors import AccessError
from core.security import cassandra_connector_options
from tests.helpers import private_env, service_unavailable
from tests.helpers_secured import make_pki, settings_of
from tickplant.runtime.cassandra import CassandraService


@pytest.fixture(scope="module")
def mtls_cassandra(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmtls")
    pki = make_pki(root / "pki")
    env = {**private_env(root / "var"), "CASSANDRA_SSL_CAFILE": str(pki.ca),
           "CASSANDRA_SSL_CERTFILE": str(pki.client_cert), "CASSANDRA_SSL_KEYFILE": str(pki.client_key),
           "TICKPLANT_TLS_KEYSTORE": str(pki.keystore), "TICKPLANT_TLS_KEYSTORE_PASSWORD": pki.keystore_password,
           "TICKPLANT_SERVICE_TIMEOUT": "240"}
    settings = settings_of(env)
    cassandra = CassandraService(settings)
    try:
        cassandra.start()
        session = cassandra_db.connect(settings)
        cassandra_db.apply_migrations(session, settings)
        cassandra_db.close(session)
    except Exception as exc:
        cassandra.stop()
        service_unavailable(f"the mutual-TLS Cassandra could not start: {exc}")
    yield settings
    cassandra.stop()


def test_driver_presents_the_client_certificate_and_is_refused_without_it(mtls_cassandra):
    session = cassandra_db.connect(mtls_cassandra)
    try:
        assert session.execute("SELECT release_version FROM system.local").one()["release_version"].startswith("5.")
    finally:
        cassandra_db.close(session)
    # refused at once, and for the certificate: not a server that simply does not answer in time
    with pytest.raises(AccessError, match="requires a client certificate"):
        cassandra_db.connect(mtls_cassandra.replace(cassandra_ssl_certfile=None, cassandra_ssl_keyfile=None),
                             timeout_s=5)


def test_spark_connector_presents_the_client_certificate_from_a_run_time_keystore(mtls_cassandra):
    from pyspark.sql import SparkSession

    from core.spark import build_session

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    options = cassandra_connector_options(mtls_cassandra)
    assert options["spark.cassandra.connection.ssl.clientAuth.enabled"] == "true"
    spark = build_session(mtls_cassandra.replace(spark_master="local[1]"), "tickplant-cassandra-mtls-check")
    try:
        spark.sql("SELECT 'MSFT' symbol, DATE'2026-11-20' trade_date, current_timestamp() trade_timestamp, "
                  "'mtls-1' trade_id, 410.5 price, 2.0 volume").selectExpr(
            "symbol", "trade_date", "trade_timestamp", "trade_id", "cast(price as double) price",
            "cast(volume as double) volume").write.format("org.apache.spark.sql.cassandra").mode("append") \
            .options(**options, keyspace=mtls_cassandra.cassandra.keyspace, table="trades").save()
        rows = (spark.read.format("org.apache.spark.sql.cassandra")
                .options(**options, keyspace=mtls_cassandra.cassandra.keyspace, table="trades").load()
                .select("trade_id").collect())
    finally:
        spark.stop()
    assert [row["trade_id"] for row in rows] == ["mtls-1"]
