"""Streamlit entry point (app/main.py) and shared UI helpers (app/ui)."""
