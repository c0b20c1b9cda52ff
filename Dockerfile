FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY workspace ./workspace
COPY plugins ./plugins
COPY storage_backends ./storage_backends
COPY migrations ./migrations
RUN pip install --no-cache-dir .
ENV WORKSPACE_HOST=0.0.0.0 WORKSPACE_DATA_DIR=/data
EXPOSE 8000
CMD ["workspace", "serve"]
