"""Shared Streamlit widgets, formatters and st.cache_* wrappers around core."""
