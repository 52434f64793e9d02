"""The SQL engine's `cassandra` catalog against the secured Cassandra of `secured_services`
(PasswordAuthenticator + client TLS with the throw-away CA): a query returns exactly the rows written
there; a wrong password is refused with one line naming the cause; the catalog file is owner-only and
no secret reaches the engine's logs or the error."""

from __future__ import annotations

import stat
from datetime import UTC, date, datetime, timedelta

import pytest

from core import cassandra as cassandra_db
from core.errors import AccessError
from core.net import free_port, port_open
from tests.helpers_secured import files_containing

SYMBOLS = ("AAPL", "MSFT")


def _engine(settings, home):
    from tickplant.runtime.trino import TrinoService

    settings = settings.replace(home=home, presto_url=f"http://127.0.0.1:{free_port()}")
    return TrinoService(settings, settings.sql)


def _write_trades(settings) -> list[tuple]:
    """Ten trades per symbol today, written with cassandra-driver over TLS with the password."""
    day = date(2026, 3, 10)
    rows = [(symbol, day, datetime(2026, 3, 10, 14, 30, tzinfo=UTC) + timedelta(seconds=n),
             f"{symbol}-{n}", 100.0 + n + 0.25 * i, float(n + 1))
            for i, symbol in enumerate(SYMBOLS) for n in range(10)]
    session = cassandra_db.connect(settings, keyspace=settings.cassandra.keyspace)
    try:
        insert = session.prepare("INSERT INTO trades (symbol, trade_date, trade_timestamp, trade_id, price, volume) "
                                 "VALUES (?, ?, ?, ?, ?, ?)")
        for row in rows:
            session.execute(insert, row)
    finally:
        cassandra_db.close(session)
    return rows


def test_engine_reads_exactly_the_rows_of_the_secured_cassandra_over_tls(secured_services, secured_isolated,
                                                                          tmp_path):
    from tickplant.runtime.trino import trino_connection

    written = _write_trades(secured_isolated)
    engine = _engine(secured_isolated, tmp_path / "home")
    try:
        assert engine.start().state == "up"
        catalog = engine.dir / "etc" / "catalog" / "cassandra.properties"
        assert stat.S_IMODE(catalog.stat().st_mode) == 0o600
        text = catalog.read_text()
        assert "cassandra.tls.enabled=true" in text
        assert f"cassandra.tls.truststore-path={secured_services.pki.ca}" in text
        assert "cassandra.username=tickplant" in text
        connection = trino_connection(engine.options, schema=secured_isolated.cassandra.keyspace)
        try:
            cursor = connection.cursor()
            for symbol in SYMBOLS:
                day = written[0][1]
                cursor.execute("SELECT trade_id, price, volume FROM trades WHERE symbol = ? AND trade_date = ?",
                               [symbol, day])
                assert sorted(tuple(r) for r in cursor.fetchall()) == sorted(
                    (r[3], r[4], r[5]) for r in written if r[0] == symbol)
        finally:
            connection.close()
    finally:
        assert engine.stop() is True
    assert files_containing(engine.settings.runtime.home, secured_services.secrets) == {}


def test_a_wrong_cassandra_password_in_the_catalog_is_refused_with_one_line(secured_services, secured_isolated,
                                                                            tmp_path):
    wrong = "wrong-SECRET-password"
    engine = _engine(secured_isolated.replace(cassandra_password=wrong), tmp_path / "home")
    with pytest.raises(AccessError) as refused:
        engine.start()
    message = str(refused.value)
    assert "\n" not in message
    assert "refused the credentials of user 'tickplant'" in message and "cassandra catalog" in message
    assert wrong not in message and all(secret not in message for secret in secured_services.secrets)
    # the engine it started is stopped again, and wrote neither password anywhere but the catalog
    assert engine.running_pid() is None and not port_open("127.0.0.1", engine.options.presto_port)
    assert files_containing(engine.settings.runtime.home, [wrong, *secured_services.secrets]) == {}
    assert stat.S_IMODE((engine.dir / "etc" / "catalog" / "cassandra.properties").stat().st_mode) == 0o600


def test_a_catalog_that_does_not_trust_the_nodes_certificate_is_refused_with_one_line(secured_services,
                                                                                      secured_isolated, tmp_path):
    rogue = secured_services.pki.rogue_ca
    engine = _engine(secured_isolated.replace(cassandra_ssl_cafile=rogue), tmp_path / "home")
    with pytest.raises(AccessError) as refused:
        engine.start()
    message = str(refused.value)
    assert "\n" not in message
    assert f"presented a TLS certificate that CASSANDRA_SSL_CAFILE={rogue} does not trust" in message
    assert all(secret not in message for secret in secured_services.secrets)
    assert engine.running_pid() is None and not port_open("127.0.0.1", engine.options.presto_port)
