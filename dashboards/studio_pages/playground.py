"""A query and candidate passages ranked by the base and one or two fine-tunes side by side."""

from wrapper.studio.ui_playground import page_playground

page_playground()
