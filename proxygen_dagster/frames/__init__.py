"""The frame domain: the frame chain multi-asset and its checks, the frame sensors (S3 polling, S3
notifications, follow_upstream)."""
