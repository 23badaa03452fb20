"""Entry script of the autorerank studio (`autorerank studio` runs it).

It only builds the navigation; each page is a short script in studio_pages/ that
calls `wrapper.studio.ui_*`, and the leaderboard pages are the leaderboard app's
own scripts (leaderboard_pages/). Files go under the folder the studio was
started in (data/, autotrain_configs/, runs/ and results/, or $AUTORERANK_RUNS /
$AUTORERANK_RESULTS).
"""

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
PAGES = HERE / "studio_pages"
LEADERBOARD = HERE / "leaderboard_pages"

st.set_page_config(page_title="autorerank studio", page_icon=":material/tune:", layout="wide")
st.navigation(
    {
        "Studio": [
            st.Page(PAGES / "data.py", title="Data", icon=":material/dataset:", default=True),
            st.Page(PAGES / "train.py", title="Train", icon=":material/model_training:"),
            st.Page(PAGES / "evaluate.py", title="Evaluate", icon=":material/fact_check:"),
            st.Page(PAGES / "playground.py", title="Playground", icon=":material/science:"),
        ],
        "Leaderboard": [
            st.Page(LEADERBOARD / "overview.py", title="Leaderboard", icon=":material/leaderboard:"),
            st.Page(LEADERBOARD / "compare.py", title="Fine-tuned vs base", icon=":material/compare_arrows:"),
            st.Page(LEADERBOARD / "model.py", title="Model details", icon=":material/search_insights:"),
        ],
    }
).run()
