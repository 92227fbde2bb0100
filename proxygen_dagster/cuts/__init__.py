"""The cut domain: editorial cuts conformed to the latest versions of their shots (docs/editorial.md)."""
