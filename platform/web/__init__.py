"""The web tier: Flask app factory, Flask-AppBuilder security, the REST API and screens."""
