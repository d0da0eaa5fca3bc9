"""The Spark shell: session building and the jobs. The only pyspark importer."""
