"""The configuration file (the original chart's keys) and its validation."""
