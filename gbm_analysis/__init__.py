"""GBM analysis: the geometric Brownian motion model (pure numpy, `model`) and the hourly Spark
batch job around it (`job`), which estimates, simulates and backtests every symbol's forecast."""
