"""Turn results into Rich renderables. Nothing here prints; ``cli/`` prints once."""
