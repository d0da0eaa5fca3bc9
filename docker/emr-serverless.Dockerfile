# A custom image for EMR Serverless with cxrpipe installed in the image's Python 3.11, so jobs
# need no --archives. From the checkout's root:
#   cxrpipe emr package --out dist --wheel-only
#   docker build --platform linux/amd64 -f docker/emr-serverless.Dockerfile -t cxrpipe-emr-serverless .
# --platform is the application's architecture: linux/amd64 for X86_64 (the default), linux/arm64 for
# ARM64. Without it Docker builds for the building machine (arm64 on an Apple-silicon Mac), and
# the application fails to start. Then: push to ECR, and give the repository the policy
# `cxrpipe emr policy --document ecr-repository ...` prints (docs/emr.md, "EMR Serverless").
# EMR on EKS: the same file on its base image,
#   docker build --platform linux/amd64 -f docker/emr-serverless.Dockerfile \
#       --build-arg BASE=public.ecr.aws/emr-on-eks/spark/emr-7.14.0:latest -t cxrpipe-emr-eks .
# Keep EMR_RELEASE equal to the application's release label (and to emr/cluster.json's).
ARG EMR_RELEASE=emr-7.14.0
ARG BASE=public.ecr.aws/emr-serverless/spark/${EMR_RELEASE}:latest
FROM ${BASE}

USER root
# EMR 7.x images run Amazon Linux 2023, whose python3 is 3.9.
RUN dnf install -y python3.11 python3.11-pip && dnf clean all
COPY dist/cxrpipe-*.whl /tmp/dist/
RUN set -e; wheel=$(ls /tmp/dist/cxrpipe-*.whl); \
    python3.11 -m pip install --no-cache-dir "${wheel}[aws]"; \
    rm -rf /tmp/dist
ENV PYSPARK_PYTHON=/usr/bin/python3.11

# EMR runs jobs as hadoop, never as root.
USER hadoop:hadoop
