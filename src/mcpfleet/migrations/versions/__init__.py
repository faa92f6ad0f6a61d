"""The revisions, oldest first: ``r0001_previous_release`` is the schema of the release before
migrations; each later file changes it. Alembic reads these files itself (see ``runner``)."""
