"""Report layouts. ``pdf`` draws a monthly client report from the plain data that
``app.services.report_gathering.gather`` returns; nothing here reads the database or decides a
figure."""
