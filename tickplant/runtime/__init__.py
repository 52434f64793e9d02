"""The local service runtime: one module per service (Kafka, Cassandra, Trino, Superset) on a small
base (`base.LocalService`: endpoint, owner-only files, subprocesses, readiness), composed by `stack`.
A service whose configured address is not local is never started here."""
