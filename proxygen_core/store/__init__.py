"""Where sources and outputs live: the S3 bucket (``s3``), a local folder with the same interface
(``local``), the key layout and ids (``keys``) and bounded bucket sweeps (``discovery``)."""
