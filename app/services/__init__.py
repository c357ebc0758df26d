"""The rules of Atrium: plain functions over a SQLAlchemy session.

Views, APIs, the CLI and the workers call these; no Flask view code lives here.
"""
