"""Authentication and authorisation: FAB security manager, the role → permission
table, and (later) tenant scoping helpers and PostgreSQL row-level security."""
