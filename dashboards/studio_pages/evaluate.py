"""Runs or models on a prepared dataset's held-out split (`autorerank eval` jobs); results land on the leaderboard."""

from wrapper.studio.ui_evaluate import page_evaluate

page_evaluate()
