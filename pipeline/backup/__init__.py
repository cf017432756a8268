"""Originals kept safe (#16): backups of the workspace's originals into a restic repository,
checks of the repository, restores proved byte-identical (restic)."""
