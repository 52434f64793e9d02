"""The Streamlit dashboard: live market, GBM forecasts, history and pipeline health, read from
Cassandra only. `data` holds every query, `indicators` the maths, `charts` the Plotly figures."""
