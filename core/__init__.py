"""Fraud Workbench core library: config, data, training, registry and storage.

Never imports streamlit or fastapi; the Streamlit pages and the API sidecar call into it.
"""
