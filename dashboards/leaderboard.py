"""Entry script of the autorerank leaderboard (`autorerank leaderboard` runs it).

It only builds the navigation; each page is a short script in leaderboard_pages/
that calls `wrapper.leaderboard.ui`. Results and runs folders come from
$AUTORERANK_RESULTS / $AUTORERANK_RUNS (set by the CLI's --results / --runs).
"""

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
PAGES = HERE / "leaderboard_pages"

st.set_page_config(page_title="autorerank leaderboard", page_icon=":material/leaderboard:", layout="wide")
st.navigation(
    [
        st.Page(PAGES / "overview.py", title="Leaderboard", icon=":material/leaderboard:", default=True),
        st.Page(PAGES / "compare.py", title="Fine-tuned vs base", icon=":material/compare_arrows:"),
        st.Page(PAGES / "model.py", title="Model details", icon=":material/search_insights:"),
    ]
).run()
