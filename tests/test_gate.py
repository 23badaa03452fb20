"""The regression gate's decision rule (pure) and its advice.

The end-to-end gate on real runs is exercised in tests/test_pipeline.py.
"""

import pytest

from wrapper.gate import COLLAPSE_SPREAD, MIN_INFORMATIVE_QUERIES, GateResult, advice_for, decide


@pytest.mark.parametrize(
    "base, fine, spread, verdict",
    [
        (0.60, 0.65, 0.5, "improved"),
        (0.60, 0.603, 0.5, "no_better"),
        (0.60, 0.597, 0.5, "no_better"),
        (0.60, 0.50, 0.5, "regressed"),
        # a model that scores every probe pair the same is collapsed, whatever its MAP
        (0.60, 0.70, COLLAPSE_SPREAD / 2, "collapsed"),
        (0.60, 0.10, 0.0, "collapsed"),
    ],
)
def test_decide(base, fine, spread, verdict):
    assert decide(base, fine, spread) == verdict


def test_a_split_that_cannot_tell_the_models_apart_is_inconclusive():
    # a base at (nearly) 1.0 leaves no room: "no better" would blame the fine-tune
    assert decide(1.0, 1.0, 0.5) == "inconclusive"
    assert decide(0.998, 0.999, 0.5) == "inconclusive"
    # ... but falling below a perfect base is still a real regression
    assert decide(1.0, 0.90, 0.5) == "regressed"
    # too few queries with a negative to rank: no verdict on the scores at all
    few = MIN_INFORMATIVE_QUERIES - 1
    assert decide(0.6, 0.9, 0.5, informative_queries=few) == "inconclusive"
    assert decide(0.6, 0.3, 0.5, informative_queries=few) == "inconclusive"
    assert decide(0.6, 0.9, 0.5, informative_queries=MIN_INFORMATIVE_QUERIES) == "improved"
    # a collapsed model is collapsed whatever the split
    assert decide(0.6, 0.9, 0.0, informative_queries=0) == "collapsed"


def test_an_inconclusive_verdict_says_why_and_is_not_a_success():
    result = GateResult(
        verdict="inconclusive", metric="map_at_1000", base=1.0, fine_tuned=1.0, delta=0.0, spread=0.4,
        probe_pairs=40, tolerance=0.005, advice=advice_for("inconclusive", "bi-encoder", fresh_head=False, steps=10),
        details={"inconclusive_because": "the base already scores 1.0000 on the validation split"},
    )
    assert not result.ok
    text = result.sentence()
    assert text.startswith("INCONCLUSIVE: map_at_1000 1.0000 vs base 1.0000; the base already scores")
    assert "autorerank eval" in text


def test_decide_needs_scores_unless_collapsed():
    assert decide(None, None, 0.0) == "collapsed"
    with pytest.raises(ValueError):
        decide(None, 0.5, 1.0)


def test_advice_names_the_likely_cause_for_a_fresh_cross_encoder_head():
    text = advice_for("collapsed", "cross-encoder", fresh_head=True, steps=65)
    assert "65 steps" in text
    assert "bge-reranker-base" in text
    assert "GPU" in text


def test_a_bad_verdict_is_never_worded_as_success():
    result = GateResult(
        verdict="regressed", metric="map_at_1000", base=0.6, fine_tuned=0.5, delta=-0.1,
        spread=0.4, probe_pairs=80, tolerance=0.005, advice="lower the learning rate.",
    )
    assert not result.ok
    text = result.sentence()
    assert text.startswith("REGRESSED")
    assert "what to try: lower the learning rate." in text
