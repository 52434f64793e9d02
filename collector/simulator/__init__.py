"""The test exchange: a local websocket server speaking a feed's protocol (server.py) and the seeded
GBM market whose trades it streams (market.py). `tickplant simulate`, the tests and the benchmarks
run it; the collector never imports it."""

from __future__ import annotations

from collector.simulator.server import Simulator, SimulatorConfig, SimulatorThread

__all__ = ["Simulator", "SimulatorConfig", "SimulatorThread"]
