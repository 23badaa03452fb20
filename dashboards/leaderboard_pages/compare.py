"""Each fine-tune against its base model, with the regression gate's verdict."""

from wrapper.leaderboard.ui import page_compare

page_compare()
