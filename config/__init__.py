"""Settings and the data files that describe a community: a leaf package that imports nothing of ours."""
from config.settings import Settings

__all__ = ["Settings"]
