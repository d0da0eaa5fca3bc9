"""Running cxrpipe on Amazon EMR (on EC2, and EMR Serverless).

- ``templates``: the project's ``emr/`` files (JSON with ``${NAME}`` placeholders) and filling them.
- ``requests``: pure builders of the boto3 request dicts (steps, clusters, serverless job runs).
- ``policy``: the least-privilege IAM policy a job needs.
- ``package``: the project's wheel and a venv-pack archive of its environment; ``envcheck``: is an
  archive's cxrpipe the same build as the checkout's?
- ``elfcheck``: will every compiled file in an archive load on EMR 7 (glibc 2.34, the nodes' CPU)?
- ``stage``: uploading those artifacts and the job scripts to an S3 staging prefix.
- ``submit``: the shell that calls EMR with clients it is handed, waits and reports.
- ``commands``: what each `cxrpipe emr` subcommand does (parsers: ``cxrpipe.cli.emr``).

Nothing here imports boto3 at module import: clients are created by the CLI, or handed in by tests.
"""
