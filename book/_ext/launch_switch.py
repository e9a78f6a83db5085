"""The book's launch buttons (Binder, Colab) follow one setting: ``repository.url`` in _config.yml.

sphinx-book-theme draws a launch button for each provider URL under ``launch_buttons`` and builds
its link from the repository URL; with providers set and no repository URL it fails the build
(and a repository URL on a host it does not know fails it too). So _config.yml keeps the
providers set, and this extension switches them off while ``repository.url`` is empty: setting
the public GitHub URL there turns the buttons on, with nothing else to change.
"""

from __future__ import annotations

PROVIDERS = ("binderhub_url", "colab_url", "jupyterhub_url", "deepnote_url", "jupyterlite_url")


def switch(theme_options: dict) -> dict:
    """The theme options with every launch provider removed when no repository URL is set."""
    if theme_options.get("repository_url"):
        return theme_options
    buttons = {k: v for k, v in (theme_options.get("launch_buttons") or {}).items()
               if k not in PROVIDERS}  # fmt: skip
    return {**theme_options, "launch_buttons": buttons}


def _on_config(app, config) -> None:
    config.html_theme_options = switch(dict(config.html_theme_options))


def setup(app):
    app.connect("config-inited", _on_config)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
