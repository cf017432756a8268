"""crossmedia: watched folders in, publication-ready renditions, preview pages and banners out."""

__version__ = "0.1.0"
