"""A bare Flask-AppBuilder app listing Atrium's tickets (benchmark peer): see ../README.md."""
