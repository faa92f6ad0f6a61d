"""The revisions, oldest first: ``r0001_previous_release`` is the schema of the release before
migrations; each later file changes it. Alembic reads these files itself (see ``runner``)."""

__all__: list[str] = []  # nothing to import: Alembic loads the revision files by path
