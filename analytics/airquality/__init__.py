"""Air-quality analytics: the Korean CAI and the fine-dust / ozone advisories."""
