"""The accelerated virtual clock over a real websocket: stamps advance `time_scale` times faster than
the wall clock, start in the past and reach now at the last trade, never ahead of the receiver's clock."""

from __future__ import annotations

import json
import time

from websockets.sync.client import connect

from collector.simulator import SimulatorConfig, SimulatorThread

SYMBOLS = ["AAPL", "BINANCE:BTCUSDT", "BINANCE:DOGEUSDT"]


def test_time_scale_clock_catches_up_with_now_and_never_runs_ahead():
    trades, rate, scale = 6_000, 2_000, 60.0
    started_ms = int(time.time() * 1000)
    simulator = SimulatorThread(SimulatorConfig(port=0, rate=rate, seed=3, max_trades=trades, time_scale=scale)).start()
    stamps, ahead_ms = [], []
    try:
        with connect(simulator.url, max_size=None, open_timeout=10) as ws:
            for symbol in SYMBOLS:
                ws.send(json.dumps({"type": "subscribe", "symbol": symbol}))
            while len(stamps) < trades:
                message = json.loads(ws.recv(timeout=10))
                if message.get("type") != "trade":
                    continue
                received_ms = int(time.time() * 1000)
                for trade in message["data"]:
                    stamps.append(trade["t"])
                    ahead_ms.append(trade["t"] - received_ms)
        report = simulator.report()
    finally:
        simulator.stop()
    catch_up_ms = trades * (scale - 1) * 1000 / rate                          # 177 s before the start
    # the virtual clock starts catch_up_ms before the moment the simulator started, which is after
    # started_ms: by how much depends on the box's load, so the bound is generous and one-sided
    assert 0 <= report["start_ms"] - (started_ms - catch_up_ms) < 30_000
    assert stamps[0] == report["start_ms"] and stamps == sorted(stamps)
    assert stamps[-1] - stamps[0] == int((trades - 1) * scale * 1000 / rate)   # 180 virtual seconds in ~3 s
    assert max(ahead_ms) <= 5, max(ahead_ms)      # never ahead of the wall clock (by more than one 5 ms tick)
    assert report["time_scale"] == scale and report["trades"] == trades
    assert set(report["models"]) == set(SYMBOLS) and report["models"]["AAPL"]["sigma"] == 0.28
