"""Drill-down for one model: evaluation details, run config, status and training curve."""

from wrapper.leaderboard.ui import page_model

page_model()
