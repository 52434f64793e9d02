"""The tickplant dashboard (`tickplant dashboard`, or
`python -m streamlit run dashboard/app.py --server.port 8501 --server.address 127.0.0.1`):
a multipage Streamlit app over Cassandra; each page lives in dashboard/views/.
The live market page is the default one, served at `/`; the others at /gbm, /history, /health.
"""

import streamlit as st

st.set_page_config(page_title="tickplant", page_icon=":material/candlestick_chart:", layout="wide")

PAGES = [
    st.Page("views/live.py", title="Live market", icon=":material/candlestick_chart:", default=True),
    st.Page("views/gbm.py", title="GBM forecast", icon=":material/ssid_chart:", url_path="gbm"),
    st.Page("views/history.py", title="History", icon=":material/history:", url_path="history"),
    st.Page("views/health.py", title="Pipeline health", icon=":material/monitor_heart:", url_path="health"),
]

st.navigation(PAGES).run()
