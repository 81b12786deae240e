"""The names of the shapes of ``fluvial bench shapes`` (without importing them)."""

SHAPE_NAMES = ("fraud", "sessions", "stateful", "early-trigger", "stateless", "gbk-fixed",
               "sliding-1m-keys")
