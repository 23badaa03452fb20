"""Raw file -> preview -> column mapping -> prepare (a job) -> the manifest in plain words."""

from wrapper.studio.ui_data import page_data

page_data()
