"""Models x tasks table (metric switch, filters, rank, mean, gate), CSV download, charts."""

from wrapper.leaderboard.ui import page_leaderboard

page_leaderboard()
