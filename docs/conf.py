"""Sphinx configuration for the Deadbeat documentation."""

project = "Deadbeat"
author = "The Deadbeat developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
exclude_patterns = ["_build"]
html_theme = "alabaster"
