"""Declarative schemas shipped with tickplant: the Avro trade message, Kafka topics and CQL migrations.

This is a package only so the files travel with an installed distribution; see core/schemas.py.
"""
