"""The secured private pair — Kafka with a SASL_SSL listener (PLAIN and SCRAM), Cassandra with
PasswordAuthenticator and client TLS, a throw-away CA — for the tests of this package only: started
before its first test and stopped after its last, so it never runs beside the rest of the suite."""

from __future__ import annotations

import pytest

from core.errors import TickplantError
from tests.helpers import close_shared_sessions, own_topic_and_keyspace, service_unavailable


@pytest.fixture(scope="package")
def secured_services(tmp_path_factory: pytest.TempPathFactory):
    from tests.helpers_secured import SecuredPair, make_pki, secured_env, settings_of
    from tickplant.runtime import stack as runtime

    root = tmp_path_factory.mktemp("secured")
    pki = make_pki(root / "pki")
    env = secured_env(root / "var", pki)
    settings = settings_of(env)
    try:
        runtime.start_all(settings)
    except TickplantError as exc:
        runtime.stop_all(settings)
        service_unavailable(f"the secured services could not start: {exc}")
    yield SecuredPair(settings, env, pki, root)
    close_shared_sessions(settings)
    runtime.stop_all(settings)


@pytest.fixture
def secured_isolated(secured_services):
    """Settings of the secured pair with a topic and keyspace of this test's own."""
    with own_topic_and_keyspace(secured_services.settings) as settings:
        yield settings
