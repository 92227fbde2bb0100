"""The dailies domain: the daily review asset and its schedule."""
