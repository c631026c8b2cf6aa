# Fraud Workbench app image. Also runs the MLflow server and the REST sidecar in
# docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false \
    WORKBENCH_HOME=/data/workbench

# libgomp1: LightGBM's OpenMP runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 workbench \
    && mkdir -p /data/workbench && chown -R workbench /data

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir uv==0.13.8 \
    && uv pip install --system --no-cache -r requirements.txt

COPY pyproject.toml README.md ./
COPY core core
COPY cli cli
COPY api api
COPY app app
COPY pages pages
COPY .streamlit .streamlit
RUN uv pip install --system --no-cache --no-deps .

USER workbench
# 8501: the Streamlit app; 8000: the REST sidecar (`workbench serve-api`, docker-compose.yml)
EXPOSE 8501 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"

# First start trains and aliases a demo model when the live alias is unset (idempotent).
CMD ["sh", "-c", "workbench bootstrap --if-allowed && exec streamlit run app/serve.py --server.address 0.0.0.0 --server.port 8501"]
