"""evacops: plan, simulate and track mass evacuations by air."""

__version__ = "0.1.0"
