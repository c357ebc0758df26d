"""Flask-AppBuilder views (the doors for people): staff console, portal, dashboards,
health. Views stay thin: rules live in ``app.services``."""
