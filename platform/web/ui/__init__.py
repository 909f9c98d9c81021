"""The browser UI generated from the runtime model: shell, lists, forms, console.

Pages are Flask-AppBuilder views rendering Jinja templates; each page carries the tenant's
metadata as JSON and small scripts (static/) draw lists and forms from it and talk to the
REST API with the session cookie and the page's CSRF token.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Flask

UI_TRANSLATIONS = Path(__file__).resolve().parent / "translations"
UI_LANGUAGES = {
    "en": {"flag": "gb", "name": "English"},
    "vi": {"flag": "vn", "name": "Tiếng Việt"},
    "zh": {"flag": "cn", "name": "中文"},
}

assets = Blueprint("cb_ui", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/ui/static")


@assets.app_context_processor
def shell_defaults() -> dict[str, Any]:
    """What the layout needs on every page, also on Flask-AppBuilder's own (the login)."""
    from flask import current_app
    from flask_babel import get_locale
    from flask_wtf.csrf import generate_csrf

    return {"csrf_token": generate_csrf,
            "languages": current_app.config.get("LANGUAGES", UI_LANGUAGES),
            "locale": str(get_locale() or "en"), "nav": None, "tenant": None,
            "member": None, "manager": False}


def register_ui(app: Flask) -> None:
    """Add the screens to `app` (after Flask-AppBuilder is initialised)."""
    from .admin_views import AdminScreens
    from .views import Screens

    app.register_blueprint(assets)
    with app.app_context():
        ab = app.appbuilder
        ab.add_view_no_menu(Screens())
        ab.add_view_no_menu(AdminScreens())
        ab.sm.auth_view.login_template = "callboard/login.html"
