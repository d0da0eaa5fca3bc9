# The trainer: cxrpipe with TensorFlow (CPU), streaming shard datasets from S3. From the checkout's root:
#   cxrpipe emr package --out dist --wheel-only
#   docker build -f docker/trainer.Dockerfile -t cxrpipe-trainer .
#   docker run --rm -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY cxrpipe-trainer \
#       train classifier --dataset s3://BUCKET/nih-299 ...
FROM python:3.11-slim-bookworm

RUN useradd --create-home cxrpipe
COPY dist/cxrpipe-*.whl /tmp/dist/
RUN set -e; wheel=$(ls /tmp/dist/cxrpipe-*.whl); \
    python3.11 -m pip install --no-cache-dir "${wheel}[train,aws]"; \
    rm -rf /tmp/dist

USER cxrpipe
WORKDIR /home/cxrpipe
ENTRYPOINT ["cxrpipe"]
CMD ["--help"]
