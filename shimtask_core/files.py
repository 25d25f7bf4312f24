"""Files and directories (moved to :mod:`shimtask_core.literals.files`); the old path works."""

from .literals.files import BLOBS, Directory, File, blob_decoder, blob_filler, upload

__all__ = ["BLOBS", "Directory", "File", "blob_decoder", "blob_filler", "upload"]
