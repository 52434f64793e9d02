"""tickplant: the shell on top of the parts — the CLI, `tickplant up` and the local service runtime."""

__version__ = "0.1.0"
