"""mediatag: custom tags for image and video libraries, inside PostgreSQL."""
__version__ = "0.1.0"
